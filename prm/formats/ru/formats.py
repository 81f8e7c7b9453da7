# Dates shown to Russian readers (prm/l10n.py renders every date through these): "5 декабря 2026 г.", "5 декабря 2026 г., 14:03".
DATE_FORMAT = "j E Y г."
DATETIME_FORMAT = "j E Y г., H:i"
SHORT_DATE_FORMAT = "d.m.Y"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j E"
