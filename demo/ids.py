"""Valid-looking company identifiers: Russian INN with its checksum, EU VAT numbers with their check digits."""

_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)


def inn_check_digit(first9: str) -> int:
    return sum(int(d) * w for d, w in zip(first9, _INN10_WEIGHTS)) % 11 % 10


def inn(region_prefix: str, serial: int) -> str:
    """A 10-digit legal-entity INN: region (2), tax office (2), serial (5), check digit. `serial` < 10**7."""
    first9 = f"{region_prefix}{serial:07d}"
    return first9 + str(inn_check_digit(first9))


def vat(country: str, serial: int) -> str:
    """A VAT id with a correct check digit for NL, DE, BE and PL; `serial` < 10**7."""
    body = f"{serial:07d}"
    if country == "NL":
        # A body whose check would be 10 has no valid id: try another leading digit (keeps serials unique).
        for lead in "1357":
            digits = lead + body
            check = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1))) % 11
            if check < 10:
                return f"NL{digits}{check}B01"
    if country == "DE":
        digits = "1" + body
        product = 10
        for d in digits:
            s = (int(d) + product) % 10 or 10
            product = 2 * s % 11
        return f"DE{digits}{(11 - product) % 10}"
    if country == "BE":
        digits = "0" + body
        return f"BE{digits}{97 - int(digits) % 97:02d}"
    if country == "PL":
        for lead in "2468":
            digits = "5" + lead + body
            check = sum(int(d) * w for d, w in zip(digits, (6, 5, 7, 2, 3, 4, 5, 6, 7))) % 11
            if check < 10:
                return f"PL{digits}{check}"
    raise ValueError(country)
