import pytest

from leads.customers import customer_name_key as name_normalize
from leads.customers import domain_from, domain_normalize, name_prefix
from leads.customers import tax_id_canonical as tax_id_normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7707083893", "7707083893"),
        ("7707 083 893", "7707083893"),
        ("RU-7707-083-893", "7707083893"),
        ("", ""),
        (None, ""),
    ],
)
def test_tax_id_digits_only(raw, expected):
    assert tax_id_normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Romashka.ru/about", "romashka.ru"),
        ("romashka.ru", "romashka.ru"),
        ("WWW.romashka.ru", "romashka.ru"),
        ("http://shop.romashka.ru:8080", "shop.romashka.ru"),
        ("ivan@Romashka.RU", "romashka.ru"),
        ("localhost", ""),
        ("", ""),
    ],
)
def test_domain_normalize(raw, expected):
    assert domain_normalize(raw) == expected


@pytest.mark.parametrize(
    "email",
    [
        "a@gmail.com",
        "a@yandex.ru",
        "a@ya.ru",
        "a@mail.ru",
        "a@bk.ru",
        "a@list.ru",
        "a@inbox.ru",
        "a@rambler.ru",
        "a@outlook.com",
        "a@hotmail.com",
        "a@yahoo.com",
        "a@icloud.com",
        "a@proton.me",
        "https://gmail.com",
    ],
)
def test_free_mail_never_counts(email):
    assert domain_normalize(email) == ""


def test_domain_from_prefers_website_then_corporate_email():
    assert domain_from(website="https://acme.com", email="x@other.com") == "acme.com"
    assert domain_from(website="", email="x@acme.com") == "acme.com"
    assert domain_from(website="", email="x@gmail.com") == ""


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ООО «Ромашка»", '"Romashka LLC"'),
        ("ПАО «Сбербанк»", "Sberbank PJSC".replace(" PJSC", "")),
        ('АО "Лаборатория Касперского"', "Laboratoriia Kasperskogo JSC".replace(" JSC", " AO")),
        ("Acme B.V.", "ACME BV"),
        ("Acme N.V.", "acme"),
        ("Acme GmbH", "Acme AG"),
        ("Acme, Inc.", "acme ltd"),
        ("Acme Limited", "ACME S.A."),
        ("Polska Firma Sp. z o.o.", "Polska Firma"),
        ("Acme SRL", "„Acme“"),
        ("ИП Иванов", "Ivanov"),
        ("НКО «Фонд»", "Fond"),
        ("ЗАО Альфа-Софт", "alfa soft"),
    ],
)
def test_names_match_after_normalisation(a, b):
    assert name_normalize(a) == name_normalize(b)
    assert name_normalize(a)


def test_normalised_name_is_lowercase_latin_words():
    assert name_normalize("ООО «Ромашка Плюс»") == "romashka plius"
    assert name_normalize("Romashka, Plus!") == "romashka plus"


def test_legal_form_only_name_is_empty():
    assert name_normalize("ООО «»") == ""


def test_different_companies_stay_different():
    assert name_normalize("Ромашка") != name_normalize("Василёк")


def test_name_prefix_is_first_word():
    assert name_prefix("romashka plius") == "romashka"
    assert name_prefix("") == ""


# --- tax ids: validated and canonicalised with python-stdnum (leads.customers) -------------------------------------

from django.core.exceptions import ValidationError  # noqa: E402

from leads.customers import tax_id_canonical, tax_id_clean  # noqa: E402


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("77О7083893", "RU", "7707083893"),  # Cyrillic О for zero
        ("77o7 O83 893", "RU", "7707083893"),  # Latin o/O too
        ("RU 7707-083-893", "RU", "7707083893"),
        ("105000008", "RU", "0105000008"),  # a spreadsheet dropped the leading zero
        ("0105000008", "RU", "0105000008"),  # a real leading zero is kept
        ("07707083893", "RU", "7707083893"),  # a stray leading zero is removed
        ("500100732259", "RU", "500100732259"),  # a sole proprietor's 12 digits
        ("DE 136 695 976", "RU", "DE136695976"),  # the prefix names the country
        ("136695976", "DE", "DE136695976"),
        ("DЕ136695976", "DE", "DE136695976"),  # Cyrillic Е in the prefix
    ],
)
def test_tax_ids_are_canonical(raw, country, expected):
    assert tax_id_clean(raw, country) == expected
    assert tax_id_canonical(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("7707083894", "check digit"),
        ("770708389", "10 digits"),
        ("77070838AB", "digits only"),
    ],
)
def test_invalid_inns_say_what_is_wrong(raw, message):
    with pytest.raises(ValidationError, match=message):
        tax_id_clean(raw, "RU")


def test_an_invalid_vat_number_is_refused():
    with pytest.raises(ValidationError, match="DE"):
        tax_id_clean("DE123456789", "DE")


def test_look_alikes_and_leading_zeros_do_not_pass_the_conflict_check(register, partner, partner_rep, other_partner):
    from leads.models import RegistrationStatus
    from tests.prm.factories import PartnerUserFactory

    register(partner, partner_rep, name="Ромашка", tax_id="0105000008")
    rep = PartnerUserFactory(partner=other_partner)
    for typed in ("О1О5000008", "105000008", " 01 05 000 008 "):
        reg = register(other_partner, rep, name="Совсем другая фирма", tax_id=typed)
        assert reg.status == RegistrationStatus.REJECTED, typed


def test_yo_and_ye_are_one_name():
    assert name_normalize("ООО «Алёнка»") == name_normalize("Аленка LLC") == "alenka"


def test_name_transliteration_table_reads_as_unidecode():
    """The cached table gives the text the unidecode call gave: ё → е, quotes → space, the rest transliterated."""
    from unidecode import unidecode

    from leads.customers import _QUOTES, _TRANSLITERATION

    names = ["ООО «Ёлка-Альфа»", "Romashka LLC", "„Müller“ GmbH", "b.v. Nord", "Śląsk sp. z o.o.", "北京 'x'", "Þór ß"]
    for name in names:
        typed = name.translate({ord("ё"): "е", ord("Ё"): "Е"}).translate({ord(q): " " for q in _QUOTES})
        assert name.translate(_TRANSLITERATION) == unidecode(typed), name


@pytest.mark.django_db
def test_array_parameter_round_trips(postgres_only):
    from django.db import connection

    from leads.customers import _pg_array

    values = ["a", "", "NULL", 'x"y', "b\\c", "{}", "a,b", " sp ", "ООО «Ромашка»", "it's", None, "nl\nx"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [_pg_array(values)])
        assert cursor.fetchone()[0] == values
