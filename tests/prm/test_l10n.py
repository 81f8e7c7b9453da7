"""One way to format numbers, money and dates; texts the system composes shown in the reader's language."""

import datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.template import Context, Template
from django.utils import translation

from kpi.models import ExchangeRate
from leads.models import Stage
from partners.models import Region, Tier
from portal.partner_selectors import partner_pipeline_summary
from prm import l10n, texts
from prm.models import AuditEvent, Notification
from prm.services import audit_record, notify
from prm.texts import N_, compose, compose_plural
from tests.leads.factories import LeadFactory

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", ["RUB\xa05,973,000.00", "€1,200.50", "391,148,734", "Dec 5, 2026", "87.5%"]),
        ("ru", ["5\xa0973\xa0000,00\xa0₽", "1\xa0200,50\xa0€", "391\xa0148\xa0734", "5 декабря 2026 г.", "87,5\xa0%"]),
    ],
)
def test_numbers_money_and_dates_follow_the_reader(lang, expected):
    with translation.override(lang):
        assert [
            l10n.money_format(Decimal("5973000"), "RUB"),
            l10n.money_format(Decimal("1200.5"), "EUR"),
            l10n.number_format(Decimal("391148734.00")),
            l10n.date_format(datetime.date(2026, 12, 5)),
            l10n.percent_format(Decimal("87.5"), 1),
        ] == expected


def test_template_filters_and_plain_dates_read_the_same():
    template = Template("{{ d|day }}|{{ d }}|{{ a|money:'EUR' }}|{{ n|number:1 }}")
    with translation.override("ru"):
        out = template.render(Context({"d": datetime.date(2026, 12, 5), "a": Decimal("10"), "n": 2.25}))
    assert out == f"5 декабря 2026 г.|5 декабря 2026 г.|10,00{NBSP}€|2,2"


def test_composed_text_renders_in_the_readers_language_and_old_rows_keep_working():
    text = compose(N_("Offer expired: %(title)s"), title="ERP для «Ромашки»")
    with translation.override("ru"):
        assert texts.render(text) == "Предложение истекло: ERP для «Ромашки»"
    with translation.override("en"):
        assert texts.render(text) == "Offer expired: ERP для «Ромашки»"
        assert texts.render("Typed by a person") == "Typed by a person"
        assert texts.render(texts.dumps(text)) == "Offer expired: ERP для «Ромашки»"


@pytest.mark.parametrize(
    ("n", "ru"), [(1, "1 спор"), (3, "3 спора"), (5, "5 споров"), (11, "11 споров"), (21, "21 спор")]
)
def test_plurals_use_the_three_russian_forms(n, ru):
    text = compose_plural(N_("%(n)s dispute overdue for a decision"), N_("%(n)s disputes overdue for a decision"), n)
    with translation.override("ru"):
        assert texts.render(text).startswith(ru + " ")


def test_parameters_keep_their_type(db):
    region = Region.objects.create(
        code="ru-volga", name="Volga Federal District", name_ru="Приволжский ФО", country="RU"
    )
    text = compose(N_("Protection of %(deal)s ends on %(date)s"), deal=region, date=datetime.date(2026, 12, 5))
    with translation.override("ru"):
        assert texts.render(text) == "Защита сделки Приволжский ФО заканчивается 5 декабря 2026 г."
    with translation.override("en"):
        assert "Volga Federal District" in texts.render(text) and "Dec 5, 2026" in texts.render(text)


def test_notifications_and_audit_reasons_are_shown_in_the_readers_language(partner_admin):
    with translation.override("ru"):  # the actor's language does not leak into what is stored
        notify(
            users=[partner_admin],
            kind="system",
            title=compose(N_("Offer expired: %(title)s"), title="CRM"),
            body=compose(N_("The acceptance deadline passed; the lead went to another partner.")),
        )
        audit_record(actor=None, action="lead.queued", target=partner_admin, reason=compose(N_("No eligible partner.")))
    n = Notification.objects.get(user=partner_admin)
    assert n.title == "Offer expired: CRM"  # the English wording, for old readers of the column
    event = AuditEvent.objects.get(action="lead.queued")
    with translation.override("ru"):
        assert n.title_display == "Предложение истекло: CRM"
        assert "другому партнёру" in n.body_display
        assert event.action_display == "Лид поставлен в очередь ручной маршрутизации"
        assert event.reason_display != "No eligible partner."
    with translation.override("en"):
        assert event.reason_display == "No eligible partner."
    old = Notification.objects.create(user=partner_admin, kind="system", title="Demo data loaded")
    assert old.title_display == "Demo data loaded"


def test_reference_data_has_both_names(db):
    tier = Tier.objects.create(code="gold", name="Gold", name_ru="Золото", rank=7, commission_rate=Decimal("0.1"))
    with translation.override("ru"):
        assert str(tier) == "Золото"
    with translation.override("en"):
        assert str(tier) == "Gold"
    assert tier.name_i18n() == {"en": "Gold", "ru": "Золото"}


def test_pipeline_totals_convert_other_currencies(partner):
    ExchangeRate.objects.create(currency="EUR", valid_from=datetime.date(2000, 1, 1), rate=Decimal("100"))
    LeadFactory(partner=partner, stage=Stage.QUALIFIED, value=Decimal("1000"), currency=settings.PRM_REPORTING_CURRENCY)
    LeadFactory(partner=partner, stage=Stage.QUALIFIED, value=Decimal("10"), currency="EUR")
    LeadFactory(partner=partner, stage=Stage.QUALIFIED, value=Decimal("10"), currency="XXX")  # no rate: left out
    assert partner_pipeline_summary(partner=partner)["open_value"] == Decimal("2000")
