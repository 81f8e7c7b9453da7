from .models import Notification
from .permissions import is_partner_user, is_vendor


def shell(request):
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    return {
        "is_vendor": is_vendor(user),
        "is_partner": is_partner_user(user),
        "unread_notifications": Notification.objects.filter(user=user, read_at=None).count(),
    }
