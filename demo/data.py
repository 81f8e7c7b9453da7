"""Reference data for the demo network. Plain tuples and dicts: extend them, the generator picks them up."""

from decimal import Decimal

# code, name, country, time zone, INN region prefix, cities
REGIONS = [
    ("ru-central", "Central Federal District", "RU", "Europe/Moscow", "77", ["Москва", "Тула", "Ярославль", "Воронеж"]),
    ("ru-northwest", "North-Western Federal District", "RU", "Europe/Moscow", "78", ["Санкт-Петербург", "Мурманск"]),
    ("ru-kaliningrad", "Kaliningrad Region", "RU", "Europe/Kaliningrad", "39", ["Калининград"]),
    ("ru-south", "Southern Federal District", "RU", "Europe/Volgograd", "61", ["Ростов-на-Дону", "Краснодар"]),
    ("ru-north-caucasus", "North Caucasian Federal District", "RU", "Europe/Moscow", "26", ["Ставрополь"]),
    ("ru-volga", "Volga Federal District", "RU", "Europe/Samara", "16", ["Казань", "Самара", "Нижний Новгород"]),
    ("ru-ural", "Ural Federal District", "RU", "Asia/Yekaterinburg", "66", ["Екатеринбург", "Челябинск", "Тюмень"]),
    ("ru-siberia", "Siberian Federal District", "RU", "Asia/Novosibirsk", "54", ["Новосибирск", "Красноярск", "Омск"]),
    ("ru-far-east", "Far Eastern Federal District", "RU", "Asia/Vladivostok", "25", ["Владивосток", "Хабаровск"]),
    ("nl", "Netherlands", "NL", "Europe/Amsterdam", "", ["Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"]),
    ("be", "Belgium", "BE", "Europe/Brussels", "", ["Brussel", "Antwerpen", "Gent", "Leuven"]),
    ("de", "Germany", "DE", "Europe/Berlin", "", ["Berlin", "Hamburg", "München", "Köln"]),
    ("pl", "Poland", "PL", "Europe/Warsaw", "", ["Warszawa", "Kraków", "Gdańsk"]),
]
# Relative weight of each region for partners and customers (Moscow-heavy, like the real market).
REGION_WEIGHTS = {
    "ru-central": 30,
    "ru-northwest": 12,
    "ru-kaliningrad": 3,
    "ru-south": 7,
    "ru-north-caucasus": 3,
    "ru-volga": 10,
    "ru-ural": 8,
    "ru-siberia": 7,
    "ru-far-east": 4,
    "nl": 6,
    "be": 3,
    "de": 4,
    "pl": 3,
}

# code, name, products sold under it
COMPETENCIES = [
    ("itsm", "ITSM", ["Service Desk", "CMDB", "Service Catalog", "ITSM Enterprise"]),
    ("infosec", "Information security", ["SIEM", "DLP", "Vulnerability Management"]),
    ("cloud", "Cloud infrastructure", ["Private Cloud", "Backup as a Service", "Kubernetes Platform"]),
    ("data", "Data & analytics", ["BI Platform", "Data Warehouse", "Reporting Suite"]),
    ("erp", "ERP integration", ["ERP Connector", "1C Integration Bus", "SAP Adapter"]),
    ("field-service", "Field service", ["Field Service Management", "Mobile Engineer App"]),
    ("licensing", "Licensing", ["Enterprise Licenses", "License Renewal", "Subscription Upgrade"]),
]

INDUSTRIES = [
    ("retail", "Retail"),
    ("banking", "Banking"),
    ("manufacturing", "Manufacturing"),
    ("public-sector", "Public sector"),
    ("healthcare", "Healthcare"),
    ("logistics", "Logistics"),
    ("telecom", "Telecom"),
    ("energy", "Energy"),
]

# code, name, rank, commission rate, allocation weight, protection days, requirements, lead capacity
# requirement: (metric, competency code or None, threshold)
TIERS = [
    ("registered", "Registered", 0, Decimal("0.05"), 1, 60, [], 10),
    (
        "silver",
        "Silver",
        1,
        Decimal("0.08"),
        2,
        90,
        [
            ("certified_people", None, 2),
            ("won_revenue_12m", None, 3_000_000),
            ("sla_acceptance", None, 45),
            ("customer_rating", None, Decimal("3.5")),
        ],
        20,
    ),
    (
        "gold",
        "Gold",
        2,
        Decimal("0.12"),
        4,
        90,
        [
            ("certified_people", None, 3),
            ("certified_people", "itsm", 1),
            ("won_revenue_12m", None, 15_000_000),
            ("sla_acceptance", None, 55),
            ("customer_rating", None, Decimal("4.0")),
        ],
        40,
    ),
    (
        "platinum",
        "Platinum",
        3,
        Decimal("0.15"),
        6,
        120,
        [
            ("certified_people", None, 5),
            ("certified_people", "itsm", 2),
            ("certified_people", "infosec", 1),
            ("won_revenue_12m", None, 50_000_000),
            ("sla_acceptance", None, 65),
            ("customer_rating", None, Decimal("4.3")),
        ],
        80,
    ),
]
# Thresholds are set for the demo network's numbers (its partners accept about half of their offers within the
# SLA): most partners sit comfortably in a tier; the story step (demo/story.py) puts ~15 % one tier too high.
TIER_WEIGHTS = {"registered": 40, "silver": 30, "gold": 20, "platinum": 10}

SLA_POLICIES = [
    {
        "name": "Network SLA",
        "accept_within_hours": Decimal("4"),
        "first_contact_within_hours": Decimal("8"),
        "deal_update_days": 14,
        "penalty_per_breach": Decimal("5000"),
        "penalty_currency": "RUB",
        "description": "One SLA for every partner: accept an offered lead within 4 business hours, contact the "
        "customer within 8, keep open deals updated at least every 14 days. 5,000 RUB per breach.",
    },
    {
        "name": "Field service SLA",
        "accept_within_hours": Decimal("2"),
        "first_contact_within_hours": Decimal("4"),
        "deal_update_days": 7,
        "penalty_per_breach": Decimal("7500"),
        "penalty_currency": "RUB",
        "description": "For operational partners who go on site: 30% of retail requests need an engineer there.",
    },
]

# name, metric, target, max points
SCORE_COMPONENTS = [
    ("Performance", "won_revenue_12m", Decimal("20000000"), 30),
    ("SLA", "sla_acceptance", Decimal("95"), 25),
    ("Hygiene", "deal_hygiene", Decimal("90"), 15),
    ("Skilling", "certified_people", Decimal("8"), 15),
    ("Customer success", "customer_rating", Decimal("5"), 15),
]

# currency, rate to RUB 12 months ago, monthly drift
EXCHANGE_RATES = [("EUR", Decimal("98.50"), Decimal("0.35")), ("USD", Decimal("91.20"), Decimal("-0.20"))]

# program model share of top-level partners (resellers come with their distributor)
PROGRAM_MODEL_WEIGHTS = {"full_cycle": 60, "distributor": 8, "franchise": 20}
PARTNER_TYPES_BY_MODEL = {
    "full_cycle": {"operational": 35, "specialist": 35, "strategic": 30},
    "distributor": {"strategic": 70, "operational": 30},
    "reseller": {"operational": 60, "specialist": 40},
    "franchise": {"operational": 100},
}
# Share of non-active statuses; the rest are active. Each appears at least once when there is room.
RARE_STATUSES = {
    "applied": 0.04,
    "under_review": 0.04,
    "agreement_signed": 0.03,
    "onboarding": 0.05,
    "suspended": 0.04,
    "terminated": 0.03,
    "rejected": 0.02,
}
STATUS_REASONS = {
    "applied": ["Applied through the partner portal."],
    "under_review": ["References and financial statements are being checked."],
    "agreement_signed": ["Signed on paper; waiting for the onboarding kick-off."],
    "onboarding": ["Mandatory onboarding courses in progress."],
    "active": ["Onboarding completed: certified engineers and the first registered deal."],
    "suspended": [
        "Suspended: offers accepted within SLA below 60% for two quarters; improvement plan agreed.",
        "Suspended: SLA penalties unpaid for 60 days.",
    ],
    "terminated": [
        "Terminated at the partner's request: business refocused on hardware.",
        "Terminated: repeated SLA breaches after suspension.",
    ],
    "rejected": [
        "Application rejected: no certified engineers and no references in the region.",
        "Application rejected: the territory is covered by an exclusive franchise.",
    ],
}

RU_COMPANY_ROOTS = [
    "Альфа", "Вектор", "Интегра", "Техносфера", "Сигма", "ИнфоТех", "Базис", "Орбита", "Навигатор", "Меридиан",
    "Прайм", "Кронос", "Атлас", "Гелиос", "Феникс", "Спектр", "Квант", "Логос", "Парус", "Импульс", "Горизонт",
    "Аксиома", "Эталон", "Цифра", "Север", "Байкал", "Енисей", "Волга", "Урал", "Терра",
]  # fmt: skip
RU_COMPANY_SUFFIXES = [
    "Системс", "Интеграция", "Сервис", "Софт", "Консалтинг", "ИТ", "Телеком", "Решения", "Технологии",
    "Инжиниринг", "Проект", "Групп",
]  # fmt: skip
RU_LEGAL_FORMS = [("ООО", 85), ("АО", 12), ("ПАО", 3)]
EU_COMPANIES = {
    "NL": (["Van Dijk", "De Vries", "Oranje", "Noordzee", "Polder", "Delta", "Bakker", "Zuidas", "Rijnmond"],
           ["IT Services B.V.", "Solutions B.V.", "Consultancy B.V.", "ICT B.V."]),
    "BE": (["Brabant", "Schelde", "Ardennes", "Leuven", "Meuse"], ["IT BV", "Solutions SRL", "ICT NV"]),
    "DE": (["Schneider", "Weber", "Rhein", "Nordlicht", "Becker", "Alpen", "Hansa"],
           ["IT GmbH", "Systemhaus GmbH", "Consulting GmbH", "Datentechnik GmbH"]),
    "PL": (["Wisła", "Mazowsze", "Bałtyk", "Tatry", "Kowalski"], ["IT Sp. z o.o.", "Systemy Sp. z o.o."]),
}  # fmt: skip
EU_TLD = {"NL": "nl", "BE": "be", "DE": "de", "PL": "pl", "RU": "ru"}

# Customers: forms by industry and name roots
CUSTOMER_FORMS = {
    "retail": ["Торговый дом «{}»", "Сеть магазинов «{}»", "ООО «{} Ритейл»"],
    "banking": ["Банк «{}»", "АО КБ «{}»"],
    "manufacturing": ["АО «Завод {}»", "ООО «{} Пром»", "АО «{}маш»"],
    "public-sector": ["ГБУ «МФЦ {}»", "ГКУ «Центр цифровизации {}»"],
    "healthcare": ["Клиника «{}»", "ГБУЗ «Больница {}»", "ООО «Медцентр {}»"],
    "logistics": ["ТК «{}»", "ООО «{} Логистик»"],
    "telecom": ["ООО «{} Телеком»", "АО «Связь-{}»"],
    "energy": ["АО «{}энерго»", "ООО «Энергосбыт {}»"],
}
CUSTOMER_ROOTS = [
    "Северный", "Южный", "Восход", "Рассвет", "Стрела", "Заря", "Магистраль", "Надежда", "Здоровье", "Кедр",
    "Сибирь", "Приморье", "Балтика", "Каспий", "Алтай", "Ока", "Кама", "Дон", "Нева", "Амур", "Лада", "Мир",
    "Орион", "Полюс", "Сокол", "Янтарь", "Берёзка", "Радуга", "Уют", "Прогресс",
]  # fmt: skip
EU_CUSTOMER_FORMS = {
    "retail": ["{} Retail B.V.", "{} Handel GmbH"],
    "banking": ["{} Bank N.V.", "{} Bank AG"],
    "manufacturing": ["{} Manufacturing B.V.", "{} Werke GmbH"],
    "public-sector": ["Gemeente {}", "Stadtwerke {}"],
    "healthcare": ["{} Ziekenhuis", "Klinikum {}"],
    "logistics": ["{} Logistics B.V.", "{} Spedition GmbH"],
    "telecom": ["{} Telecom B.V.", "{} Netz GmbH"],
    "energy": ["{} Energie B.V.", "{} Energie AG"],
}
EU_CUSTOMER_ROOTS = ["Noord", "Zuid", "Oost", "West", "Linden", "Eiche", "Haven", "Brug", "Stern", "Berg", "Dijk"]

RU_MALE = [("Алексей", "Смирнов"), ("Дмитрий", "Кузнецов"), ("Сергей", "Попов"), ("Андрей", "Васильев"),
           ("Михаил", "Петров"), ("Игорь", "Соколов"), ("Павел", "Михайлов"), ("Николай", "Новиков"),
           ("Владимир", "Фёдоров"), ("Артём", "Морозов"), ("Олег", "Волков"), ("Евгений", "Лебедев")]  # fmt: skip
RU_FEMALE = [("Ирина", "Смирнова"), ("Елена", "Кузнецова"), ("Ольга", "Попова"), ("Наталья", "Васильева"),
             ("Татьяна", "Петрова"), ("Анна", "Соколова"), ("Мария", "Михайлова"), ("Светлана", "Новикова"),
             ("Юлия", "Фёдорова"), ("Екатерина", "Морозова")]  # fmt: skip
EU_PEOPLE = [("Jan", "de Jong"), ("Sanne", "Jansen"), ("Pieter", "Visser"), ("Lotte", "Smit"), ("Thomas", "Müller"),
             ("Anna", "Schmidt"), ("Lukas", "Fischer"), ("Marie", "Wagner"), ("Tom", "Peeters"), ("Eva", "Maes"),
             ("Piotr", "Nowak"), ("Katarzyna", "Wójcik")]  # fmt: skip

CHANNEL_MANAGERS = [("Ирина", "Соколова"), ("Максим", "Орлов"), ("Дарья", "Зайцева"), ("Roel", "Vermeulen")]

LOST_REASONS = [
    "Lost to a competitor on price",
    "Customer postponed the project to next year",
    "No budget after the tender",
    "Customer chose an in-house solution",
    "No response from the customer",
]
DECLINE_REASONS = [
    "No free engineers in the region this month",
    "Outside our competencies",
    "Customer is too small for us",
    "Conflict of interest with an existing customer",
]
REJECT_REASONS = {
    "duplicate": "Duplicate of an earlier registration by the same partner",
    "insufficient": "Not enough information about the opportunity: no contact and no budget",
}
ACTIVITY_SUBJECTS = {
    "call": ["Звонок: уточнение требований", "Звонок: согласование сроков", "Call: qualification"],
    "meeting": ["Встреча: демонстрация продукта", "Встреча с ИТ-директором", "Meeting: solution workshop"],
    "email": ["Отправлено коммерческое предложение", "Письмо: пилотный проект", "E-mail: pricing follow-up"],
    "note": ["Заметка: бюджет подтверждён", "Заметка: конкурент в тендере", "Note: decision maker identified"],
}
COSELL_ROLES = ["Security assessment", "Implementation", "On-site installation", "Licensing and logistics"]
REVIEW_TEXTS = [
    "Внедрили в срок, инженер на связи и после запуска.",
    "Хорошая команда, но согласование заняло больше времени, чем ожидали.",
    "Быстро отреагировали на инцидент, выезд в тот же день.",
    "Professional team, clear project plan and good handover to support.",
    "Проект сдан, документация полная, обучение проведено.",
]

# Courses: title, competency code (None for program courses), level, audience, mandatory onboarding, status
COURSES = [
    ("Partner program onboarding", None, "basic", "", True, "published"),
    ("Lead handling and the network SLA", None, "basic", "partner_sales", True, "published"),
    ("Deal registration and channel conflict rules", None, "basic", "partner_sales", True, "published"),
    ("ITSM fundamentals", "itsm", "basic", "partner_engineer", False, "published"),
    ("ITSM Enterprise implementation", "itsm", "advanced", "partner_engineer", False, "published"),
    ("Information security essentials", "infosec", "basic", "partner_engineer", False, "published"),
    ("Cloud infrastructure architect", "cloud", "advanced", "partner_engineer", False, "published"),
    ("Data & analytics practitioner", "data", "basic", "partner_engineer", False, "published"),
    ("ERP integration developer", "erp", "advanced", "partner_engineer", False, "published"),
    ("Field service engineer", "field-service", "basic", "partner_engineer", False, "published"),
    ("Licensing for sales", "licensing", "basic", "partner_sales", False, "published"),
    ("ITSM Enterprise 2.0 (beta)", "itsm", "expert", "partner_engineer", False, "draft"),
    ("Legacy Service Desk 7", "itsm", "basic", "partner_engineer", False, "archived"),
]
LESSON_TITLES = ["Overview", "Architecture", "Installation and configuration", "Typical projects", "Support and SLA"]

# Russian names of the reference data above (by code; score components and certification kinds by English name).
NAMES_RU = {
    "ru-central": "Центральный федеральный округ",
    "ru-northwest": "Северо-Западный федеральный округ",
    "ru-kaliningrad": "Калининградская область",
    "ru-south": "Южный федеральный округ",
    "ru-north-caucasus": "Северо-Кавказский федеральный округ",
    "ru-volga": "Приволжский федеральный округ",
    "ru-ural": "Уральский федеральный округ",
    "ru-siberia": "Сибирский федеральный округ",
    "ru-far-east": "Дальневосточный федеральный округ",
    "nl": "Нидерланды",
    "be": "Бельгия",
    "de": "Германия",
    "pl": "Польша",
    "itsm": "ITSM",
    "infosec": "Информационная безопасность",
    "cloud": "Облачная инфраструктура",
    "data": "Данные и аналитика",
    "erp": "Интеграция с ERP",
    "field-service": "Выездное обслуживание",
    "licensing": "Лицензирование",
    "retail": "Розничная торговля",
    "banking": "Банки",
    "manufacturing": "Производство",
    "public-sector": "Государственный сектор",
    "healthcare": "Здравоохранение",
    "logistics": "Логистика",
    "telecom": "Телеком",
    "energy": "Энергетика",
    "registered": "Зарегистрированный",
    "silver": "Серебряный",
    "gold": "Золотой",
    "platinum": "Платиновый",
    "Performance": "Результаты продаж",
    "SLA": "Соблюдение SLA",
    "Hygiene": "Актуальность сделок",
    "Skilling": "Квалификация",
    "Customer success": "Удовлетворённость клиентов",
    "Certified Engineer": "Сертифицированный инженер",
    "Sales Professional": "Специалист по продажам",
}
