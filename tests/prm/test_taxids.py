"""One tax id rule (prm.taxids) for customers and partners: the same text reads the same way at both doors."""

import pytest
from django.core.exceptions import ValidationError

from leads.customers import tax_id_clean as customer_tax_id
from partners.services import tax_id_check

CASES = [
    ("7701234560", "RU", "7701234560"),
    ("77О1234560", "RU", "7701234560"),  # Cyrillic «О» typed for zero
    ("RU 7701-234-560", "RU", "7701234560"),
    ("DE 136 695 976", "DE", "DE136695976"),
    ("7701234567", "RU", None),  # check digit does not match
]


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "country", "canonical"), CASES)
@pytest.mark.parametrize("door", ["customer", "partner"])
def test_a_tax_id_reads_the_same_for_customers_and_partners(door, typed, country, canonical):
    def read():
        if door == "customer":
            return customer_tax_id(typed, country)
        return tax_id_check(country=country, tax_id=typed)

    if canonical is None:
        with pytest.raises(ValidationError):
            read()
    else:
        assert read() == canonical
