"""PostgreSQL-only bulk leads for benchmark sizes: INSERT ... SELECT generate_series, computed by the server.

The first leads of a run come from the detailed Python generator (registrations, protection windows, reviews,
co-sells, several offers per lead). Beyond that, the bulk here is vendor-routed leads in every stage with the
same timestamp rules (created < offered < accepted < first contact <= last activity <= closed <= now), one
routing decision and one offer per routed lead (expired / pending / accepted) and K activities per worked deal.
Chunks run on several connections at once (PostgreSQL computes each statement on one core). Every chunk sets its
own `setseed` and every row's id follows from its lead's position, so the result does not depend on which
connection ran which chunk or in what order; a serial plan (no parallel workers) keeps each chunk deterministic.
"""

from django.db import connection, transaction

from leads.models import Activity, Lead, Offer, RoutingDecision
from prm.parallel import parallel_map

from . import data
from .writer import _filler

CHUNK = 250_000
STAGE_CASE = """CASE
    WHEN r_stage < 0.03 THEN 'new' WHEN r_stage < 0.06 THEN 'queue' WHEN r_stage < 0.11 THEN 'offered'
    WHEN r_stage < 0.19 THEN 'registered' WHEN r_stage < 0.31 THEN 'qualified' WHEN r_stage < 0.43 THEN 'proposal'
    WHEN r_stage < 0.50 THEN 'negotiation' WHEN r_stage < 0.75 THEN 'won' ELSE 'lost' END"""
AGE_CASE = """CASE stage
    WHEN 'new' THEN 300 + r_age * 129300 WHEN 'queue' THEN 86400 + r_age * 777600
    WHEN 'offered' THEN 600 + r_age * 10200 WHEN 'registered' THEN 86400 + r_age * 2505600
    WHEN 'qualified' THEN 259200 + r_age * 4924800 WHEN 'proposal' THEN 864000 + r_age * 9504000
    WHEN 'negotiation' THEN 1728000 + r_age * 11232000 ELSE 1728000 + r_age * 29808000 END"""


def _sql_array(values) -> str:
    return "ARRAY[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


def _extra_columns(model, given: list[str], named: bool = False) -> tuple[str, str, list]:
    """Columns the bulk SQL does not set (fields added later): their defaults as parameters."""
    extra = [
        f for f in model._meta.concrete_fields if f.attname not in given and not f.primary_key and f.column not in given
    ]
    if not extra:
        return "", "", []
    values = []
    for f in extra:
        fill = _filler(f)
        values.append(f.get_db_prep_save(fill(), connection))
    cols = ", " + ", ".join(connection.ops.quote_name(f.column) for f in extra)
    if named:
        return cols, ", " + ", ".join(f"%(extra{i})s" for i in range(len(extra))), values
    return cols, ", " + ", ".join(["%s"] * len(extra)), values


INDEX_REBUILD_MIN = 50_000  # below this, rebuilding indexes costs more than it saves
BULK_TABLES = ["leads_lead", "leads_lead_competencies", "leads_routingdecision", "leads_offer", "leads_activity"]


def bulk_leads(seeder, *, count: int, progress=None) -> None:
    """Drop the secondary indexes and the foreign keys of the bulk tables, load, and rebuild them: unique indexes
    re-validate, and each foreign key is checked by one join (VALIDATE CONSTRAINT) instead of one deferred lookup
    per row at every chunk's commit, which took most of a chunk's time (~5 lookups a generated row)."""
    if count < INDEX_REBUILD_MIN:
        return _bulk_leads(seeder, count=count, progress=progress)
    qn = connection.ops.quote_name
    with connection.cursor() as cur:
        cur.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            [BULK_TABLES],
        )
        indexes = cur.fetchall()
        cur.execute(
            """SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
               JOIN pg_class t ON t.oid = c.conrelid
               WHERE c.contype = 'f' AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s)
               ORDER BY t.relname, c.conname""",
            [BULK_TABLES],
        )
        foreign_keys = cur.fetchall()
        for name, _definition in indexes:
            cur.execute(f"DROP INDEX {qn(name)}")
        for table, name, _definition in foreign_keys:
            cur.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(name)}")
    try:
        _bulk_leads(seeder, count=count, progress=progress)
    finally:
        parallel_map(_execute, [definition for _name, definition in indexes])
        with connection.cursor() as cur:  # NOT VALID: no check yet, and only a brief lock
            for table, name, definition in foreign_keys:
                cur.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition} NOT VALID")
        # One table's validations wait for each other (SHARE UPDATE EXCLUSIVE), other tables' run alongside.
        parallel_map(
            _execute, [f"ALTER TABLE {qn(table)} VALIDATE CONSTRAINT {qn(name)}" for table, name, _d in foreign_keys]
        )
        parallel_map(_execute, [f"ANALYZE {table}" for table in BULK_TABLES])


def _execute(statement: str) -> None:
    with connection.cursor() as cur:
        cur.execute(statement)


# Working tables shared by the generating connections (hence regular, unlogged tables, not temporary ones).
POOL_TABLES = ("demo_seed_pool", "demo_seed_cust", "demo_seed_products")


def _bulk_leads(seeder, *, count: int, progress=None) -> None:
    try:
        _bulk_leads_generate(seeder, count=count, progress=progress)
    finally:
        _execute(f"DROP TABLE IF EXISTS {', '.join(POOL_TABLES)}")


def _bulk_leads_generate(seeder, *, count: int, progress=None) -> None:
    now = seeder.now
    lead_base = _next(Lead) - 1
    dec_base = _next(RoutingDecision) - 1
    offer_base = _next(Offer) - 1
    act_base = _next(Activity) - 1
    products = [(p, seeder.competencies[code].id) for code, _n, ps in data.COMPETENCIES for p in ps]
    people = data.RU_MALE + data.RU_FEMALE
    names = _sql_array(f"{f} {last}" for f, last in people)
    from .seed import slug

    locals_ = _sql_array(f"{slug(f)}.{slug(last)}" for f, last in people)
    product_arr = _sql_array(p for p, _c in products)
    reasons = _sql_array(data.LOST_REASONS)
    subjects = _sql_array(data.ACTIVITY_SUBJECTS[k][0] for k in ("call", "email", "meeting", "note"))
    k = max(0, seeder.activities)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {', '.join(POOL_TABLES)}")
        cur.execute(
            """CREATE UNLOGGED TABLE demo_seed_pool AS
               SELECT row_number() OVER (ORDER BY p.id, u.id, w) AS idx, p.id AS partner_id, u.id AS owner_id
               FROM partners_partner p JOIN partners_tier t ON t.id = p.tier_id
               JOIN prm_user u ON u.partner_id = p.id AND u.role = 'partner_sales'
               CROSS JOIN LATERAL generate_series(1, t.allocation_weight) w
               WHERE p.status = 'active'"""
        )
        cur.execute("CREATE UNIQUE INDEX ON demo_seed_pool (idx)")
        cur.execute(
            """CREATE UNLOGGED TABLE demo_seed_cust AS
               SELECT row_number() OVER (ORDER BY id) AS idx, id, region_id, name, domain, country
               FROM leads_customer WHERE NOT reserved_for_direct"""
        )
        cur.execute("CREATE UNIQUE INDEX ON demo_seed_cust (idx)")
        cur.execute("CREATE UNLOGGED TABLE demo_seed_products (product text PRIMARY KEY, competency_id bigint)")
        cur.executemany("INSERT INTO demo_seed_products VALUES (%s, %s)", products)
        cur.execute("ANALYZE demo_seed_pool")
        cur.execute("ANALYZE demo_seed_cust")
        cur.execute("SELECT count(*) FROM demo_seed_pool")
        pool_n = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM demo_seed_cust")
        cust_n = cur.fetchone()[0]

    lead_given = [
        "id", "customer_id", "partner_id", "owner_id", "title", "kind", "source", "stage", "region_id",
        "contact_name", "contact_email", "contact_phone", "products", "value", "currency", "expected_close", "notes",
        "lost_reason", "source_system", "external_id", "route_failures", "offered_at", "accepted_at",
        "first_contact_due", "first_contact_at", "last_activity_at", "won_at", "closed_at", "created_at",
        "updated_at",
    ]  # fmt: skip
    lead_extra_cols, lead_extra_ph, lead_extra = _extra_columns(Lead, lead_given, named=True)
    # Every level is fenced with OFFSET 0 so that each random() is drawn once per row and later levels reuse
    # the computed columns instead of inlining (and re-drawing) whole expressions.
    lead_sql = f"""
    INSERT INTO leads_lead ({", ".join(lead_given)}{lead_extra_cols})
    SELECT id, customer_id, partner_id, owner_id, left(product || ' — ' || cname, 200), kind, source, stage,
           region_id, contact_name, contact_email, '', product, value, currency,
           CASE WHEN closed IS NOT NULL THEN to_timestamp(closed)::date
                WHEN stage IN ('registered', 'qualified', 'proposal', 'negotiation')
                THEN to_timestamp(%(now)s + 864000 + r_val * 9504000)::date END,
           '', CASE WHEN stage = 'lost' THEN ({reasons})[1 + floor(r_val * 5)::int] ELSE '' END,
           CASE source WHEN 'api' THEN 'bitrix24' WHEN 'import' THEN 'csv-import' ELSE '' END,
           CASE WHEN source = 'vendor' THEN '' ELSE id::text END,
           CASE WHEN stage = 'queue' THEN 1 ELSE 0 END,
           to_timestamp(offered), to_timestamp(accepted), to_timestamp(accepted + 28800), to_timestamp(contact),
           to_timestamp(last_act), CASE WHEN stage = 'won' THEN to_timestamp(closed) END, to_timestamp(closed),
           to_timestamp(created), to_timestamp(coalesce(last_act, created)){lead_extra_ph}
    FROM (
      SELECT *,
        CASE WHEN stage IN ('won', 'lost') THEN closed - floor(least(259200, closed - start) * r_act)
             WHEN stage = 'queue' THEN offered + 14400
             WHEN worked AND r_act < 0.75 THEN greatest(start, %(now)s - floor(r_act / 0.75 * 1123200))
             WHEN worked THEN start + floor((%(now)s - start) * (r_act - 0.75) / 0.25) END AS last_act
      FROM (
        SELECT *,
          CASE WHEN stage IN ('won', 'lost')
               THEN start + floor(least(12960000, %(now)s - 3600 - start) * (0.2 + 0.75 * r_close)) END AS closed
        FROM (
          SELECT *, coalesce(contact, accepted) AS start
          FROM (
            SELECT *, CASE WHEN raw_contact < %(now)s THEN raw_contact END AS contact
            FROM (
              SELECT *, accepted + 60 + floor(-ln(1 - r_fc) * 10800) AS raw_contact
              FROM (
                SELECT *,
                  CASE WHEN worked THEN least(offered + 60 + floor(-ln(1 - r_acc) * 3600), %(now)s - 60) END
                    AS accepted
                FROM (
                  SELECT *,
                    CASE WHEN stage = 'new' THEN NULL
                         WHEN stage = 'offered' THEN created + 60 + floor((%(now)s - created - 120) * r_acc)
                         ELSE created + 60 + floor(r_acc * 1140) END AS offered
                  FROM (
                    SELECT *, %(now)s - floor({AGE_CASE})::bigint AS created
                    FROM (
                      SELECT x.*, %(lead_base)s + g AS id, c.id AS customer_id, c.region_id, c.name AS cname,
                        CASE WHEN c.country = 'RU' THEN 'RUB' ELSE 'EUR' END AS currency,
                        stage NOT IN ('new', 'queue', 'offered') AS worked,
                        CASE WHEN stage NOT IN ('new', 'queue', 'offered') THEN p.partner_id END AS partner_id,
                        CASE WHEN stage NOT IN ('new', 'queue', 'offered') THEN p.owner_id END AS owner_id,
                        ({product_arr})[1 + floor(r_prod * {len(products)})::int] AS product,
                        (CASE kind WHEN 'license' THEN 300 + floor(r_val * 5700)
                                   WHEN 'implementation' THEN 1000 + floor(r_val * 19000)
                                   ELSE 40 + floor(r_val * 560) END)
                          * CASE WHEN c.country = 'RU' THEN 1000 ELSE 10 END AS value,
                        CASE WHEN r_src < 0.85 THEN 'vendor' WHEN r_src < 0.95 THEN 'api' ELSE 'import' END AS source,
                        ({names})[1 + floor(r_name * {len(people)})::int] AS contact_name,
                        ({locals_})[1 + floor(r_name * {len(people)})::int] || '@' || c.domain AS contact_email
                      FROM (
                        SELECT g, r_stage, r_pool, r_cust, r_prod, r_age, r_acc, r_fc, r_close, r_act, r_name, r_src,
                          r_val, {STAGE_CASE} AS stage,
                          CASE WHEN r_kind < 0.45 THEN 'license' WHEN r_kind < 0.85 THEN 'implementation'
                               ELSE 'onsite_service' END AS kind
                        FROM (
                          SELECT g, random() AS r_stage, random() AS r_pool, random() AS r_cust, random() AS r_prod,
                            random() AS r_age, random() AS r_acc, random() AS r_fc, random() AS r_close,
                            random() AS r_act, random() AS r_name, random() AS r_src, random() AS r_val,
                            random() AS r_kind
                          FROM generate_series(%(first)s, %(last)s) g
                          OFFSET 0
                        ) r0
                        OFFSET 0
                      ) x
                      JOIN demo_seed_pool p ON p.idx = 1 + floor(x.r_pool * {pool_n})::int
                      JOIN demo_seed_cust c ON c.idx = 1 + floor(x.r_cust * {cust_n})::int
                      OFFSET 0
                    ) r1
                    OFFSET 0
                  ) r2
                  OFFSET 0
                ) r3
                OFFSET 0
              ) r4
              OFFSET 0
            ) r5
            OFFSET 0
          ) r6
          OFFSET 0
        ) r7
        OFFSET 0
      ) r8
      OFFSET 0
    ) r9
    ORDER BY 1
    """
    # Offers and decisions: the offered partner for leads without an owner is picked by hashing the lead id.
    pool_pick = f"(SELECT partner_id FROM demo_seed_pool WHERE idx = 1 + (l.id * 7919) %% {pool_n})"
    dec_given = ["id", "lead_id", "decided_at", "chosen_id", "candidates", "rule", "manual", "reason"]
    dec_extra_cols, dec_extra_ph, dec_extra = _extra_columns(RoutingDecision, dec_given)
    dec_sql = f"""
    INSERT INTO leads_routingdecision ({", ".join(dec_given)}{dec_extra_cols})
    SELECT {dec_base} + l.id - {lead_base}, l.id, l.offered_at, chosen,
           jsonb_build_array(jsonb_build_object('partner_id', chosen, 'score', 0.8, 'chosen', true)),
           'weighted_round_robin', false, ''{dec_extra_ph}
    FROM (SELECT l.*, coalesce(l.partner_id, {pool_pick}) AS chosen FROM leads_lead l
          WHERE l.id BETWEEN %s AND %s AND l.stage <> 'new') l
    """
    offer_given = [
        "id", "lead_id", "partner_id", "decision_id", "status", "offered_at", "deadline", "responded_at",
        "responded_by_id", "reason", "created_at", "updated_at",
    ]  # fmt: skip
    offer_extra_cols, offer_extra_ph, offer_extra = _extra_columns(Offer, offer_given)
    offer_sql = f"""
    INSERT INTO leads_offer ({", ".join(offer_given)}{offer_extra_cols})
    SELECT {offer_base} + l.id - {lead_base}, l.id, d.chosen_id, d.id,
           CASE l.stage WHEN 'queue' THEN 'expired' WHEN 'offered' THEN 'pending' ELSE 'accepted' END,
           l.offered_at,
           CASE WHEN l.stage = 'offered' THEN greatest(l.offered_at + interval '4 hours',
                                                       to_timestamp(%s) + interval '15 minutes')
                ELSE l.offered_at + interval '4 hours' END,
           l.accepted_at, l.owner_id, CASE WHEN l.stage = 'queue' THEN 'No answer within SLA' ELSE '' END,
           l.offered_at, coalesce(l.accepted_at, l.offered_at){offer_extra_ph}
    FROM leads_lead l JOIN leads_routingdecision d ON d.id = {dec_base} + l.id - {lead_base}
    WHERE l.id BETWEEN %s AND %s AND l.stage <> 'new'
    """
    comp_sql = """
    INSERT INTO leads_lead_competencies (lead_id, competency_id)
    SELECT l.id, sp.competency_id FROM leads_lead l JOIN demo_seed_products sp ON sp.product = l.products
    WHERE l.id BETWEEN %s AND %s
    """
    act_given = ["id", "lead_id", "partner_id", "user_id", "kind", "occurred_at", "subject", "created_at", "updated_at"]
    act_extra_cols, act_extra_ph, act_extra = _extra_columns(Activity, act_given)
    act_sql = f"""
    INSERT INTO leads_activity ({", ".join(act_given)}{act_extra_cols})
    SELECT {act_base} + (lead_id - {lead_base} - 1) * {k} + j, lead_id, partner_id, owner_id, (ARRAY['call', 'email', 'meeting', 'note'])[1 + (lead_id + j) %% 4],
           at, ({subjects})[1 + (lead_id + j) %% 4], at, at{act_extra_ph}
    FROM (
      SELECT l.id AS lead_id, l.partner_id, l.owner_id, j,
             coalesce(l.first_contact_at, l.created_at)
               + (l.last_activity_at - coalesce(l.first_contact_at, l.created_at)) * (j::float / {k}) AS at
      FROM leads_lead l CROSS JOIN generate_series(1, {k}) j
      WHERE l.id BETWEEN %s AND %s AND l.partner_id IS NOT NULL
    ) a
    """
    seed = seeder.seed

    def chunk(index: int) -> dict[str, int]:
        first, last = index * CHUNK + 1, min(count, (index + 1) * CHUNK)
        lo, hi = lead_base + first, lead_base + last
        counts = {"leads": 0}  # the first key is what the progress bar counts
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")  # demo data can be regenerated
            cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            # Per chunk, so the rows do not depend on which connection runs which chunk.
            cur.execute("SELECT setseed(%s)", [((seed + 7919 * index) % 1999) / 1000.0 - 0.999])
            params = {"now": now, "lead_base": lead_base, "first": first, "last": last}
            cur.execute(lead_sql, params | {f"extra{i}": v for i, v in enumerate(lead_extra)})
            counts["leads"] = cur.rowcount
            cur.execute(comp_sql, [lo, hi])
            counts["lead competencies"] = cur.rowcount
            cur.execute(dec_sql, [*dec_extra, lo, hi])
            counts["routing decisions"] = cur.rowcount
            cur.execute(offer_sql, [now, *offer_extra, lo, hi])
            counts["offers"] = cur.rowcount
            if k:
                cur.execute(act_sql, [*act_extra, lo, hi])
                counts["activities"] = cur.rowcount
        if progress is not None:
            progress.update(counts["leads"])  # tqdm locks its own updates
        return counts

    for counts in parallel_map(chunk, list(range((count + CHUNK - 1) // CHUNK))):
        for name, n in counts.items():
            seeder._add(name, n)


def _next(model) -> int:
    from .writer import next_id

    return next_id(model)
