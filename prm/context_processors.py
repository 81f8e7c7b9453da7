from .models import Notification
from .permissions import can_sell, is_partner_admin, is_partner_user, is_vendor, is_vendor_admin


def shell(request):
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    return {
        "is_vendor": is_vendor(user),
        "is_partner": is_partner_user(user),
        # What the role may do, for showing only the buttons it can use (the views check the same predicates).
        "can_sell": can_sell(user),
        "is_partner_admin": is_partner_admin(user),
        "is_vendor_admin": is_vendor_admin(user),
        "unread_notifications": Notification.objects.filter(user=user, read_at=None).count(),
    }
