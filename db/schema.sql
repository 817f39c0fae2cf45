-- Written by `python -m db.migration_tools`: every migration in db/migrations replayed from nothing.
-- Do not edit; tests/foundation/test_migrations.py compares it with a replay.
--
-- PostgreSQL database dump
--

--
-- Name: refuse(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.refuse(code text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PM001', MESSAGE = code;
END
$$;

--
-- Name: active_day; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.active_day (
    id bigint NOT NULL,
    brand_id integer NOT NULL,
    day date NOT NULL,
    chunk integer NOT NULL,
    bits bit varying NOT NULL
);

--
-- Name: TABLE active_day; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.active_day IS 'The brand''s members active (an EARN or a REDEEM entry) on a brand-local day: bit';

--
-- Name: active_day_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.active_day_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: active_day_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.active_day_id_seq OWNED BY public.active_day.id;

--
-- Name: api_key; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_key (
    id integer NOT NULL,
    prefix character varying(16) NOT NULL,
    secret_hash character varying(64) NOT NULL,
    scopes jsonb NOT NULL,
    created_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    partner_id integer NOT NULL
);

--
-- Name: TABLE api_key; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.api_key IS 'A partner''s key: shown once, kept as a hash, named by its prefix for support.';

--
-- Name: api_key_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.api_key_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: api_key_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.api_key_id_seq OWNED BY public.api_key.id;

--
-- Name: audit_entry; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_entry (
    id bigint NOT NULL,
    brand_id integer NOT NULL,
    actor character varying(200) NOT NULL,
    operation character varying(64) NOT NULL,
    targets jsonb NOT NULL,
    input jsonb NOT NULL,
    request_id character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL
);

--
-- Name: TABLE audit_entry; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.audit_entry IS 'A state-changing operation by the brand''s staff, admins or partners: who, what, on';

--
-- Name: audit_entry_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.audit_entry_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: audit_entry_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.audit_entry_id_seq OWNED BY public.audit_entry.id;

--
-- Name: award; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.award (
    id bigint NOT NULL,
    kind character varying(24) NOT NULL,
    task_code character varying(40),
    once_key character varying(40),
    local_day date NOT NULL,
    points integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    entry_id bigint,
    member_id integer NOT NULL,
    rule_id integer,
    reversed_by_id bigint
);

--
-- Name: TABLE award; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.award IS 'A bonus or task reward given to a member: what limits and once-only rules count.';

--
-- Name: COLUMN award.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.award.kind IS 'REGISTRATION: REGISTRATION\nREFERRAL_REFEREE: REFERRAL_REFEREE\nREFERRAL_REFERRER: REFERRAL_REFERRER\nBIRTHDAY: BIRTHDAY\nTASK: TASK';

--
-- Name: award_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.award_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: award_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.award_id_seq OWNED BY public.award.id;

--
-- Name: balance; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.balance (
    available integer NOT NULL,
    lifetime_earned bigint NOT NULL,
    lifetime_redeemed bigint NOT NULL,
    version integer NOT NULL,
    shortfall integer NOT NULL,
    member_id integer NOT NULL,
    pending integer DEFAULT 0 NOT NULL,
    CONSTRAINT balance_available_not_negative CHECK ((available >= 0)),
    CONSTRAINT balance_pending_not_negative CHECK ((pending >= 0)),
    CONSTRAINT balance_shortfall_not_negative CHECK ((shortfall >= 0)),
    CONSTRAINT balance_version_not_negative CHECK ((version >= 0))
);

--
-- Name: TABLE balance; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.balance IS 'A member''s points now: kept in step with the ledger in the same transaction.';

--
-- Name: brand; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.brand (
    id integer NOT NULL,
    code character varying(32) NOT NULL,
    name character varying(120) NOT NULL,
    timezone character varying(64) NOT NULL,
    expiry_policy character varying(16) NOT NULL,
    expiry_months integer NOT NULL,
    clearing_month smallint NOT NULL,
    clearing_day smallint NOT NULL,
    grace_days integer NOT NULL,
    jwt_algorithm character varying(8),
    jwt_key text,
    created_at timestamp with time zone NOT NULL,
    tier_window_months integer NOT NULL,
    earn_cap_per_day integer,
    earn_cap_per_purchase integer,
    purchase_max_age_days integer NOT NULL,
    cancel_window_hours integer NOT NULL,
    payment_window_minutes integer NOT NULL,
    earning_version integer NOT NULL,
    expiry_reminder_days jsonb DEFAULT '[30, 7]'::jsonb NOT NULL,
    locale character varying(16) DEFAULT 'zh-CN'::character varying NOT NULL,
    quiet_from_minute smallint DEFAULT 1260 NOT NULL,
    quiet_until_minute smallint DEFAULT 540 NOT NULL,
    currency character varying(3) DEFAULT 'CNY'::character varying NOT NULL,
    point_value numeric(12,4) DEFAULT 0.01 NOT NULL,
    birthday_min_age_days integer DEFAULT 30 NOT NULL,
    task_secret character varying(64),
    velocity_limits jsonb DEFAULT '[]'::jsonb NOT NULL,
    step_up jsonb,
    pending_days integer DEFAULT 0 NOT NULL,
    tier_metric character varying(12) DEFAULT 'POINTS'::character varying NOT NULL,
    CONSTRAINT brand_clearing_day CHECK (((clearing_day >= 1) AND (clearing_day <= 31))),
    CONSTRAINT brand_clearing_month CHECK (((clearing_month >= 1) AND (clearing_month <= 12))),
    CONSTRAINT brand_earn_cap_per_day CHECK (((earn_cap_per_day IS NULL) OR (earn_cap_per_day >= 0))),
    CONSTRAINT brand_earn_cap_per_purchase CHECK (((earn_cap_per_purchase IS NULL) OR (earn_cap_per_purchase >= 0))),
    CONSTRAINT brand_expiry_months_positive CHECK ((expiry_months > 0)),
    CONSTRAINT brand_grace_days CHECK ((grace_days >= 0)),
    CONSTRAINT brand_purchase_max_age CHECK (((purchase_max_age_days >= 1) AND (purchase_max_age_days <= 365))),
    CONSTRAINT brand_quiet_hours CHECK ((((quiet_from_minute >= 0) AND (quiet_from_minute <= 1439)) AND ((quiet_until_minute >= 0) AND (quiet_until_minute <= 1439)))),
    CONSTRAINT brand_tier_window CHECK ((tier_window_months > 0))
);

--
-- Name: TABLE brand; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.brand IS 'A brand running its own points mall; every other record belongs to exactly one brand.';

--
-- Name: COLUMN brand.expiry_policy; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.brand.expiry_policy IS 'ROLLING: ROLLING\nFIXED_DATE: FIXED_DATE';

--
-- Name: COLUMN brand.jwt_algorithm; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.brand.jwt_algorithm IS 'HS256: HS256\nRS256: RS256';

--
-- Name: brand_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.brand_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: brand_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.brand_id_seq OWNED BY public.brand.id;

--
-- Name: catalog_item; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.catalog_item (
    id integer NOT NULL,
    sku character varying(64) NOT NULL,
    name character varying(200) NOT NULL,
    description text NOT NULL,
    kind character varying(16) NOT NULL,
    status character varying(16) NOT NULL,
    category character varying(64) NOT NULL,
    points_price integer NOT NULL,
    cash_price numeric(12,2) NOT NULL,
    stock integer,
    per_member_limit integer,
    available_from timestamp with time zone,
    available_until timestamp with time zone,
    image_urls jsonb NOT NULL,
    coupon_value numeric(12,2) NOT NULL,
    coupon_valid_days integer,
    redeemed_count integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL,
    min_tier_id integer,
    partner_id integer,
    rejection_reason text,
    code_pool boolean NOT NULL,
    gifts jsonb DEFAULT '[]'::jsonb NOT NULL,
    tag_codes jsonb DEFAULT '[]'::jsonb NOT NULL,
    upgrade_months integer,
    upgrade_tier_id integer,
    CONSTRAINT catalog_item_cash_price CHECK ((cash_price >= (0)::numeric)),
    CONSTRAINT catalog_item_points_price CHECK ((points_price >= 0)),
    CONSTRAINT catalog_item_stock CHECK (((stock IS NULL) OR (stock >= 0))),
    CONSTRAINT catalog_item_window CHECK (((available_from IS NULL) OR (available_until IS NULL) OR (available_from < available_until)))
);

--
-- Name: TABLE catalog_item; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.catalog_item IS 'Something members spend points on; its stock never goes below zero (a CHECK).';

--
-- Name: COLUMN catalog_item.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.catalog_item.kind IS 'PHYSICAL: PHYSICAL\nCOUPON: COUPON\nCASH_VOUCHER: CASH_VOUCHER\nPARTNER_OFFER: PARTNER_OFFER\nTIER_UPGRADE: TIER_UPGRADE';

--
-- Name: COLUMN catalog_item.status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.catalog_item.status IS 'PENDING_APPROVAL: PENDING_APPROVAL\nACTIVE: ACTIVE\nREJECTED: REJECTED\nARCHIVED: ARCHIVED';

--
-- Name: catalog_item_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.catalog_item_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: catalog_item_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.catalog_item_id_seq OWNED BY public.catalog_item.id;

--
-- Name: coupon; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.coupon (
    id bigint NOT NULL,
    code character varying(32) NOT NULL,
    value numeric(12,2) NOT NULL,
    expires_at timestamp with time zone,
    used_at timestamp with time zone,
    used_by character varying(200),
    used_reference character varying(100),
    voided_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL,
    redemption_id bigint,
    item_id integer,
    partner_id integer
);

--
-- Name: TABLE coupon; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.coupon IS 'One unit of a coupon or cash-voucher redemption: a unique code, consumed at most once.';

--
-- Name: coupon_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.coupon_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: coupon_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.coupon_id_seq OWNED BY public.coupon.id;

--
-- Name: earning_rule; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.earning_rule (
    id integer NOT NULL,
    code character varying(40) NOT NULL,
    name character varying(120) NOT NULL,
    kind character varying(24) NOT NULL,
    priority integer NOT NULL,
    rate numeric(10,4),
    rounding character varying(8) NOT NULL,
    multiplier numeric(6,2),
    category character varying(64),
    threshold numeric(14,2),
    points integer,
    referrer_points integer,
    referrer_monthly_cap integer,
    task_code character varying(40),
    daily_limit integer,
    lifetime_limit integer,
    starts_at timestamp with time zone,
    ends_at timestamp with time zone,
    weekdays jsonb NOT NULL,
    store_codes jsonb NOT NULL,
    tier_codes jsonb NOT NULL,
    cap_points integer,
    expiry_days integer,
    archived_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL,
    partner_codes jsonb NOT NULL,
    proof character varying(8) DEFAULT 'SELF'::character varying NOT NULL,
    nth_purchase integer,
    repeats boolean DEFAULT true NOT NULL,
    tag_codes jsonb DEFAULT '[]'::jsonb NOT NULL,
    CONSTRAINT earning_rule_rate CHECK (((rate IS NULL) OR (rate >= (0)::numeric))),
    CONSTRAINT earning_rule_window CHECK (((starts_at IS NULL) OR (ends_at IS NULL) OR (starts_at < ends_at)))
);

--
-- Name: TABLE earning_rule; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.earning_rule IS 'How members earn: one rule of one kind, edited by the brand''s admins, archived not deleted.';

--
-- Name: COLUMN earning_rule.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.earning_rule.kind IS 'BASE_RATE: BASE_RATE\nCATEGORY_MULTIPLIER: CATEGORY_MULTIPLIER\nTHRESHOLD_BONUS: THRESHOLD_BONUS\nCAMPAIGN: CAMPAIGN\nREGISTRATION_BONUS: REGISTRATION_BONUS\nFIRST_PURCHASE_BONUS: FIRST_PURCHASE_BONUS\nREFERRAL_BONUS: REFERRAL_BONUS\nBIRTHDAY_BONUS: BIRTHDAY_BONUS\nTASK: TASK\nPURCHASE_COUNT: PURCHASE_COUNT';

--
-- Name: COLUMN earning_rule.rounding; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.earning_rule.rounding IS 'DOWN: DOWN\nNEAREST: NEAREST\nUP: UP';

--
-- Name: earning_rule_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.earning_rule_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: earning_rule_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.earning_rule_id_seq OWNED BY public.earning_rule.id;

--
-- Name: expiry_rollup; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.expiry_rollup (
    id bigint NOT NULL,
    brand_id integer NOT NULL,
    month date NOT NULL,
    shard smallint NOT NULL,
    points bigint NOT NULL
);

--
-- Name: TABLE expiry_rollup; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.expiry_rollup IS 'The points left in live lots per brand and brand-local month of expiry, written in each';

--
-- Name: expiry_rollup_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.expiry_rollup_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: expiry_rollup_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.expiry_rollup_id_seq OWNED BY public.expiry_rollup.id;

--
-- Name: flash_sale; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.flash_sale (
    id integer NOT NULL,
    points_price integer NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    ends_at timestamp with time zone NOT NULL,
    total_stock integer NOT NULL,
    sold integer NOT NULL,
    per_member_limit integer NOT NULL,
    cancelled_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL,
    item_id integer NOT NULL,
    CONSTRAINT flash_sale_limit_positive CHECK ((per_member_limit > 0)),
    CONSTRAINT flash_sale_points_price CHECK ((points_price >= 0)),
    CONSTRAINT flash_sale_sold_within_stock CHECK (((sold >= 0) AND (sold <= total_stock))),
    CONSTRAINT flash_sale_stock_positive CHECK ((total_stock > 0)),
    CONSTRAINT flash_sale_window CHECK ((starts_at < ends_at))
);

--
-- Name: TABLE flash_sale; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.flash_sale IS 'A time-limited sale of a catalog item with its own stock, decided in Redis first and in';

--
-- Name: flash_sale_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.flash_sale_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: flash_sale_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.flash_sale_id_seq OWNED BY public.flash_sale.id;

--
-- Name: flash_sale_reminder; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.flash_sale_reminder (
    id bigint NOT NULL,
    created_at timestamp with time zone NOT NULL,
    member_id integer NOT NULL,
    sale_id integer NOT NULL
);

--
-- Name: TABLE flash_sale_reminder; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.flash_sale_reminder IS 'A member who asked to be told when a flash sale starts.';

--
-- Name: flash_sale_reminder_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.flash_sale_reminder_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: flash_sale_reminder_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.flash_sale_reminder_id_seq OWNED BY public.flash_sale_reminder.id;

--
-- Name: idempotency_record; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.idempotency_record (
    id bigint NOT NULL,
    principal character varying(200) NOT NULL,
    operation character varying(64) NOT NULL,
    key character varying(200) NOT NULL,
    request_hash character varying(64) NOT NULL,
    outcome jsonb,
    created_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL
);

--
-- Name: TABLE idempotency_record; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.idempotency_record IS 'The first outcome of a keyed call, scoped to (brand, principal, operation, key).';

--
-- Name: idempotency_record_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.idempotency_record_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: idempotency_record_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.idempotency_record_id_seq OWNED BY public.idempotency_record.id;

--
-- Name: ledger_entry; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ledger_entry (
    id bigint NOT NULL,
    kind character varying(8) NOT NULL,
    points integer NOT NULL,
    balance_after integer NOT NULL,
    version integer NOT NULL,
    description text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone,
    breakdown jsonb NOT NULL,
    actor character varying(200) NOT NULL,
    reason text,
    order_ref character varying(64),
    shortfall integer NOT NULL,
    brand_id integer NOT NULL,
    member_id integer NOT NULL,
    store_id integer,
    partner_id integer,
    txid bigint DEFAULT ((pg_current_xact_id())::text)::bigint NOT NULL,
    tier_id integer,
    pending integer DEFAULT 0 NOT NULL,
    pending_until timestamp with time zone,
    CONSTRAINT ledger_balance_after CHECK ((balance_after >= 0)),
    CONSTRAINT ledger_version_positive CHECK ((version > 0))
);

--
-- Name: TABLE ledger_entry; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.ledger_entry IS 'One movement of a member''s points; append-only, versioned 1, 2, 3, ... per member.';

--
-- Name: COLUMN ledger_entry.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.ledger_entry.kind IS 'EARN: EARN\nREDEEM: REDEEM\nEXPIRE: EXPIRE\nREFUND: REFUND\nREVERSAL: REVERSAL\nADJUST: ADJUST';

--
-- Name: ledger_entry_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ledger_entry_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: ledger_entry_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ledger_entry_id_seq OWNED BY public.ledger_entry.id;

--
-- Name: ledger_rollup; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ledger_rollup (
    id bigint NOT NULL,
    brand_id integer NOT NULL,
    day date NOT NULL,
    kind character varying(8) NOT NULL,
    store_id integer NOT NULL,
    partner_id integer NOT NULL,
    tier_id integer NOT NULL,
    rule character varying(40) NOT NULL,
    points bigint NOT NULL,
    entries integer NOT NULL
);

--
-- Name: TABLE ledger_rollup; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.ledger_rollup IS 'The ledger summed per brand, brand-local day, kind, store, partner, member tier and rule:';

--
-- Name: COLUMN ledger_rollup.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.ledger_rollup.kind IS 'EARN: EARN\nREDEEM: REDEEM\nEXPIRE: EXPIRE\nREFUND: REFUND\nREVERSAL: REVERSAL\nADJUST: ADJUST';

--
-- Name: ledger_rollup_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ledger_rollup_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: ledger_rollup_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ledger_rollup_id_seq OWNED BY public.ledger_rollup.id;

--
-- Name: lot; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.lot (
    id bigint NOT NULL,
    points integer NOT NULL,
    remaining integer NOT NULL,
    earned_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    expired_at timestamp with time zone,
    entry_id bigint NOT NULL,
    member_id integer NOT NULL,
    purchase_id bigint,
    held_until timestamp with time zone,
    CONSTRAINT lot_expired_is_empty CHECK (((expired_at IS NULL) OR (remaining = 0))),
    CONSTRAINT lot_points_positive CHECK ((points > 0)),
    CONSTRAINT lot_remaining_within_points CHECK (((remaining >= 0) AND (remaining <= points)))
);

--
-- Name: TABLE lot; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.lot IS 'Points earned together, expiring together; spending takes the soonest-expiring first.';

--
-- Name: lot_consumption; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.lot_consumption (
    id bigint NOT NULL,
    points integer NOT NULL,
    returned integer NOT NULL,
    entry_id bigint NOT NULL,
    lot_id bigint NOT NULL,
    CONSTRAINT consumption_points_positive CHECK ((points > 0)),
    CONSTRAINT consumption_returned_within CHECK (((returned >= 0) AND (returned <= points)))
);

--
-- Name: TABLE lot_consumption; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.lot_consumption IS 'How many points one debit took from one lot: what a cancel or refund gives back.';

--
-- Name: lot_consumption_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.lot_consumption_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: lot_consumption_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.lot_consumption_id_seq OWNED BY public.lot_consumption.id;

--
-- Name: lot_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.lot_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: lot_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.lot_id_seq OWNED BY public.lot.id;

--
-- Name: lot_reminder; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.lot_reminder (
    id bigint NOT NULL,
    days_before smallint NOT NULL,
    lot_id bigint NOT NULL
);

--
-- Name: TABLE lot_reminder; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.lot_reminder IS 'A lot whose member was reminded that it expires, at one threshold (days before): once.';

--
-- Name: lot_reminder_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.lot_reminder_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: lot_reminder_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.lot_reminder_id_seq OWNED BY public.lot_reminder.id;

--
-- Name: member; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.member (
    id integer NOT NULL,
    display_name character varying(120) NOT NULL,
    phone character varying(20),
    email character varying(254),
    birthday date,
    referral_code character varying(16) NOT NULL,
    member_code character varying(16) NOT NULL,
    status character varying(8) NOT NULL,
    marketing_email boolean NOT NULL,
    marketing_sms boolean NOT NULL,
    joined_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL,
    referred_by_id integer,
    tier_id integer NOT NULL,
    locale character varying(16),
    marketing_push boolean DEFAULT false NOT NULL,
    marketing_wechat boolean DEFAULT false NOT NULL,
    push_token character varying(200),
    wechat_open_id character varying(64),
    birthday_set_at timestamp with time zone,
    external_id character varying(64),
    device_id character varying(128),
    tier_floor_id integer,
    tier_floor_redemption_id integer,
    tier_floor_until timestamp with time zone
);

--
-- Name: TABLE member; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.member IS 'A member of one brand; points are brand-wide, earned and spent in any of its stores.';

--
-- Name: COLUMN member.status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.member.status IS 'ACTIVE: ACTIVE\nFROZEN: FROZEN\nCLOSED: CLOSED';

--
-- Name: member_day; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.member_day (
    id bigint NOT NULL,
    member_id integer NOT NULL,
    brand_id integer NOT NULL,
    day date NOT NULL,
    qualifying bigint NOT NULL,
    earned bigint NOT NULL,
    redeemed bigint NOT NULL
);

--
-- Name: TABLE member_day; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.member_day IS 'One member''s points per brand-local day: what qualifies for tiers (earned less';

--
-- Name: member_day_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.member_day_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: member_day_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.member_day_id_seq OWNED BY public.member_day.id;

--
-- Name: member_filter; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.member_filter (
    id integer NOT NULL,
    code character varying(40) NOT NULL,
    name character varying(120) NOT NULL,
    spec jsonb NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL
);

--
-- Name: TABLE member_filter; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.member_filter IS 'A saved filter of the brand''s members, by code: what tagMembers may name.';

--
-- Name: member_filter_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.member_filter_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: member_filter_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.member_filter_id_seq OWNED BY public.member_filter.id;

--
-- Name: member_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.member_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: member_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.member_id_seq OWNED BY public.member.id;

--
-- Name: member_number; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.member_number (
    id bigint NOT NULL,
    member_id integer NOT NULL,
    brand_id integer NOT NULL,
    number integer NOT NULL
);

--
-- Name: TABLE member_number; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.member_number IS 'A member''s place among their brand''s members (0, 1, 2, … without gaps, in the order';

--
-- Name: member_number_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.member_number_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: member_number_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.member_number_id_seq OWNED BY public.member_number.id;

--
-- Name: member_segment; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.member_segment (
    id bigint NOT NULL,
    member_id integer NOT NULL,
    brand_id integer NOT NULL,
    last_purchase_at timestamp with time zone NOT NULL,
    purchases integer NOT NULL,
    spend numeric(16,2) NOT NULL,
    recency smallint NOT NULL,
    frequency smallint NOT NULL,
    monetary smallint NOT NULL,
    segment character varying(24) NOT NULL,
    refreshed_at timestamp with time zone NOT NULL
);

--
-- Name: TABLE member_segment; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.member_segment IS 'A member''s RFM scores (1 to 5 each, by quintile within the brand) and segment, from their';

--
-- Name: member_segment_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.member_segment_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: member_segment_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.member_segment_id_seq OWNED BY public.member_segment.id;

--
-- Name: member_status_change; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.member_status_change (
    id bigint NOT NULL,
    previous character varying(8) NOT NULL,
    current character varying(8) NOT NULL,
    reason text NOT NULL,
    actor character varying(200) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    member_id integer NOT NULL
);

--
-- Name: TABLE member_status_change; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.member_status_change IS 'Who froze, closed or reopened a member, when, and why.';

--
-- Name: COLUMN member_status_change.previous; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.member_status_change.previous IS 'ACTIVE: ACTIVE\nFROZEN: FROZEN\nCLOSED: CLOSED';

--
-- Name: COLUMN member_status_change.current; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.member_status_change.current IS 'ACTIVE: ACTIVE\nFROZEN: FROZEN\nCLOSED: CLOSED';

--
-- Name: member_status_change_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.member_status_change_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: member_status_change_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.member_status_change_id_seq OWNED BY public.member_status_change.id;

--
-- Name: member_tag; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.member_tag (
    id bigint NOT NULL,
    brand_id integer NOT NULL,
    tag character varying(40) NOT NULL,
    tagged_at timestamp with time zone NOT NULL,
    member_id integer NOT NULL
);

--
-- Name: TABLE member_tag; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.member_tag IS 'A tag an admin gave a member (domain/segments.py); rules may be limited to tags.';

--
-- Name: member_tag_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.member_tag_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: member_tag_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.member_tag_id_seq OWNED BY public.member_tag.id;

--
-- Name: notice; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notice (
    id bigint NOT NULL,
    kind character varying(32) NOT NULL,
    dedupe_key character varying(200) NOT NULL,
    variables jsonb NOT NULL,
    marketing boolean NOT NULL,
    in_inbox boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    read_at timestamp with time zone,
    brand_id integer NOT NULL,
    member_id integer NOT NULL
);

--
-- Name: TABLE notice; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.notice IS 'One thing told to one member, once: its key (member, kind, subject, threshold) is unique';

--
-- Name: COLUMN notice.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.notice.kind IS 'POINTS_EARNED: POINTS_EARNED\nPOINTS_SPENT: POINTS_SPENT\nPOINTS_ADJUSTED: POINTS_ADJUSTED\nPOINTS_EXPIRED: POINTS_EXPIRED\nPOINTS_EXPIRING: POINTS_EXPIRING\nTIER_UP: TIER_UP\nTIER_DOWN: TIER_DOWN\nTIER_LAPSING: TIER_LAPSING\nREDEMPTION_CONFIRMED: REDEMPTION_CONFIRMED\nREDEMPTION_SHIPPED: REDEMPTION_SHIPPED\nREDEMPTION_CANCELLED: REDEMPTION_CANCELLED\nPAYMENT_WINDOW_CLOSING: PAYMENT_WINDOW_CLOSING\nCOUPON_EXPIRING: COUPON_EXPIRING\nBIRTHDAY_GIFT: BIRTHDAY_GIFT\nFLASH_SALE_STARTING: FLASH_SALE_STARTING\nVERIFICATION_CODE: VERIFICATION_CODE';

--
-- Name: notice_delivery; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notice_delivery (
    id bigint NOT NULL,
    status character varying(12) NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    last_status_code integer,
    last_error text,
    delivered_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    gateway_id integer NOT NULL,
    notice_id bigint NOT NULL
);

--
-- Name: TABLE notice_delivery; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.notice_delivery IS 'One notice to one gateway: retried with growing delays until delivered or dead.';

--
-- Name: COLUMN notice_delivery.status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.notice_delivery.status IS 'PENDING: PENDING\nDELIVERED: DELIVERED\nDEAD: DEAD';

--
-- Name: notice_delivery_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.notice_delivery_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: notice_delivery_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.notice_delivery_id_seq OWNED BY public.notice_delivery.id;

--
-- Name: notice_gateway; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notice_gateway (
    id integer NOT NULL,
    channel character varying(8) NOT NULL,
    url character varying(500) NOT NULL,
    secret character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    disabled_at timestamp with time zone,
    brand_id integer NOT NULL
);

--
-- Name: TABLE notice_gateway; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.notice_gateway IS 'The brand''s own gateway for one channel: each notice is posted to it, signed with the';

--
-- Name: COLUMN notice_gateway.channel; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.notice_gateway.channel IS 'INBOX: INBOX\nSMS: SMS\nWECHAT: WECHAT\nPUSH: PUSH\nEMAIL: EMAIL';

--
-- Name: notice_gateway_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.notice_gateway_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: notice_gateway_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.notice_gateway_id_seq OWNED BY public.notice_gateway.id;

--
-- Name: notice_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.notice_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: notice_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.notice_id_seq OWNED BY public.notice.id;

--
-- Name: notice_switch; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notice_switch (
    id integer NOT NULL,
    kind character varying(32) NOT NULL,
    channel character varying(8) NOT NULL,
    brand_id integer NOT NULL
);

--
-- Name: TABLE notice_switch; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.notice_switch IS 'A kind of notice the brand switched off on a channel (on everywhere unless listed).';

--
-- Name: COLUMN notice_switch.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.notice_switch.kind IS 'POINTS_EARNED: POINTS_EARNED\nPOINTS_SPENT: POINTS_SPENT\nPOINTS_ADJUSTED: POINTS_ADJUSTED\nPOINTS_EXPIRED: POINTS_EXPIRED\nPOINTS_EXPIRING: POINTS_EXPIRING\nTIER_UP: TIER_UP\nTIER_DOWN: TIER_DOWN\nTIER_LAPSING: TIER_LAPSING\nREDEMPTION_CONFIRMED: REDEMPTION_CONFIRMED\nREDEMPTION_SHIPPED: REDEMPTION_SHIPPED\nREDEMPTION_CANCELLED: REDEMPTION_CANCELLED\nPAYMENT_WINDOW_CLOSING: PAYMENT_WINDOW_CLOSING\nCOUPON_EXPIRING: COUPON_EXPIRING\nBIRTHDAY_GIFT: BIRTHDAY_GIFT\nFLASH_SALE_STARTING: FLASH_SALE_STARTING\nVERIFICATION_CODE: VERIFICATION_CODE';

--
-- Name: COLUMN notice_switch.channel; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.notice_switch.channel IS 'INBOX: INBOX\nSMS: SMS\nWECHAT: WECHAT\nPUSH: PUSH\nEMAIL: EMAIL';

--
-- Name: notice_switch_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.notice_switch_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: notice_switch_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.notice_switch_id_seq OWNED BY public.notice_switch.id;

--
-- Name: notice_template; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notice_template (
    id integer NOT NULL,
    kind character varying(32) NOT NULL,
    channel character varying(8) NOT NULL,
    locale character varying(16) NOT NULL,
    text text NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL
);

--
-- Name: TABLE notice_template; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.notice_template IS 'The brand''s own wording of a kind on a channel in a locale (built-in ones otherwise).';

--
-- Name: COLUMN notice_template.kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.notice_template.kind IS 'POINTS_EARNED: POINTS_EARNED\nPOINTS_SPENT: POINTS_SPENT\nPOINTS_ADJUSTED: POINTS_ADJUSTED\nPOINTS_EXPIRED: POINTS_EXPIRED\nPOINTS_EXPIRING: POINTS_EXPIRING\nTIER_UP: TIER_UP\nTIER_DOWN: TIER_DOWN\nTIER_LAPSING: TIER_LAPSING\nREDEMPTION_CONFIRMED: REDEMPTION_CONFIRMED\nREDEMPTION_SHIPPED: REDEMPTION_SHIPPED\nREDEMPTION_CANCELLED: REDEMPTION_CANCELLED\nPAYMENT_WINDOW_CLOSING: PAYMENT_WINDOW_CLOSING\nCOUPON_EXPIRING: COUPON_EXPIRING\nBIRTHDAY_GIFT: BIRTHDAY_GIFT\nFLASH_SALE_STARTING: FLASH_SALE_STARTING\nVERIFICATION_CODE: VERIFICATION_CODE';

--
-- Name: COLUMN notice_template.channel; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.notice_template.channel IS 'INBOX: INBOX\nSMS: SMS\nWECHAT: WECHAT\nPUSH: PUSH\nEMAIL: EMAIL';

--
-- Name: notice_template_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.notice_template_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: notice_template_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.notice_template_id_seq OWNED BY public.notice_template.id;

--
-- Name: partner; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.partner (
    id integer NOT NULL,
    code character varying(32) NOT NULL,
    name character varying(120) NOT NULL,
    point_value numeric(12,4) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL,
    CONSTRAINT partner_point_value CHECK ((point_value >= (0)::numeric))
);

--
-- Name: TABLE partner; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.partner IS 'Another brand that runs cross-promotions with this one, server to server, by API key.';

--
-- Name: partner_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.partner_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: partner_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.partner_id_seq OWNED BY public.partner.id;

--
-- Name: purchase; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.purchase (
    id bigint NOT NULL,
    order_ref character varying(64) NOT NULL,
    total numeric(14,2) NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    points_earned integer NOT NULL,
    refunded_amount numeric(14,2) NOT NULL,
    points_reversed integer NOT NULL,
    brand_id integer NOT NULL,
    earn_entry_id bigint NOT NULL,
    member_id integer NOT NULL,
    store_id integer,
    earn_day date NOT NULL,
    categories jsonb NOT NULL,
    partner_id integer,
    CONSTRAINT purchase_refund_within_total CHECK (((refunded_amount >= (0)::numeric) AND (refunded_amount <= total))),
    CONSTRAINT purchase_reversal_within_earned CHECK (((points_reversed >= 0) AND (points_reversed <= points_earned))),
    CONSTRAINT purchase_total_positive CHECK ((total > (0)::numeric))
);

--
-- Name: TABLE purchase; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.purchase IS 'A purchase recorded for points; (brand, orderRef) names it once.';

--
-- Name: purchase_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.purchase_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: purchase_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.purchase_id_seq OWNED BY public.purchase.id;

--
-- Name: redemption; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.redemption (
    id bigint NOT NULL,
    quantity integer NOT NULL,
    points_spent integer NOT NULL,
    cash_amount numeric(12,2) NOT NULL,
    status character varying(16) NOT NULL,
    payment_due_at timestamp with time zone,
    payment_reference character varying(100),
    shipping_address jsonb,
    tracking_reference character varying(100),
    confirmed_at timestamp with time zone,
    fulfilled_at timestamp with time zone,
    cancelled_at timestamp with time zone,
    cancel_reason text,
    cancelled_by character varying(200),
    created_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL,
    item_id integer NOT NULL,
    member_id integer NOT NULL,
    redeem_entry_id bigint,
    flash_sale_id integer,
    reservation_id character varying(64),
    gifts jsonb DEFAULT '[]'::jsonb NOT NULL,
    CONSTRAINT redemption_points_spent CHECK ((points_spent >= 0)),
    CONSTRAINT redemption_quantity_positive CHECK ((quantity > 0))
);

--
-- Name: TABLE redemption; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.redemption IS 'A member''s order of a catalog item, paid in points (and cash for points + cash items).';

--
-- Name: COLUMN redemption.status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.redemption.status IS 'AWAITING_PAYMENT: AWAITING_PAYMENT\nCONFIRMED: CONFIRMED\nFULFILLED: FULFILLED\nCANCELLED: CANCELLED';

--
-- Name: redemption_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.redemption_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: redemption_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.redemption_id_seq OWNED BY public.redemption.id;

--
-- Name: risk_flag; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.risk_flag (
    id bigint NOT NULL,
    brand_id integer NOT NULL,
    member_id integer NOT NULL,
    entry_id bigint,
    reason character varying(40) NOT NULL,
    details jsonb NOT NULL,
    status character varying(20) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    reviewed_by character varying(200),
    review_note text,
    reviewed_at timestamp with time zone
);

--
-- Name: TABLE risk_flag; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.risk_flag IS 'Something about a member''s movement that a person should look at: a velocity limit';

--
-- Name: COLUMN risk_flag.status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.risk_flag.status IS 'OPEN: OPEN\nCLEARED: CLEARED\nMEMBER_FROZEN: MEMBER_FROZEN\nMOVEMENT_REVERSED: MOVEMENT_REVERSED';

--
-- Name: risk_flag_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.risk_flag_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: risk_flag_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.risk_flag_id_seq OWNED BY public.risk_flag.id;

--
-- Name: rollup_watermark; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.rollup_watermark (
    name character varying(32) NOT NULL,
    next_xid bigint NOT NULL,
    rolled_at timestamp with time zone NOT NULL
);

--
-- Name: TABLE rollup_watermark; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.rollup_watermark IS 'How far the roll-up job has summed the ledger: every entry written by a transaction';

--
-- Name: store; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.store (
    id integer NOT NULL,
    code character varying(32) NOT NULL,
    name character varying(120) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL,
    archived_at timestamp with time zone
);

--
-- Name: TABLE store; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.store IS 'A shop of the brand; points earned in one store are spent in any other.';

--
-- Name: store_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.store_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: store_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.store_id_seq OWNED BY public.store.id;

--
-- Name: tier; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tier (
    id integer NOT NULL,
    code character varying(32) NOT NULL,
    name character varying(120) NOT NULL,
    rank integer NOT NULL,
    qualifying_points integer NOT NULL,
    earn_multiplier numeric(6,2) NOT NULL,
    discount_percent integer NOT NULL,
    birthday_bonus_points integer NOT NULL,
    flash_sale_early_access_minutes integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    brand_id integer NOT NULL,
    CONSTRAINT tier_birthday_bonus CHECK ((birthday_bonus_points >= 0)),
    CONSTRAINT tier_discount CHECK (((discount_percent >= 0) AND (discount_percent <= 100))),
    CONSTRAINT tier_early_access CHECK ((flash_sale_early_access_minutes >= 0)),
    CONSTRAINT tier_earn_multiplier CHECK ((earn_multiplier >= (0)::numeric)),
    CONSTRAINT tier_qualifying_points CHECK ((qualifying_points >= 0)),
    CONSTRAINT tier_rank CHECK ((rank >= 0))
);

--
-- Name: TABLE tier; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.tier IS 'A membership tier; rank 0 is the base tier every brand gets when it is created.';

--
-- Name: tier_change; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tier_change (
    id bigint NOT NULL,
    qualifying_points integer NOT NULL,
    changed_at timestamp with time zone NOT NULL,
    current_id integer NOT NULL,
    member_id integer NOT NULL,
    previous_id integer
);

--
-- Name: TABLE tier_change; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.tier_change IS 'A member''s move from one tier to another: at once on an upgrade, at evaluation down.';

--
-- Name: tier_change_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.tier_change_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: tier_change_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.tier_change_id_seq OWNED BY public.tier_change.id;

--
-- Name: tier_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.tier_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: tier_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.tier_id_seq OWNED BY public.tier.id;

--
-- Name: tortoise_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tortoise_migrations (
    id integer NOT NULL,
    app character varying(255) NOT NULL,
    name character varying(255) NOT NULL,
    applied_at timestamp with time zone NOT NULL
);

--
-- Name: tortoise_migrations_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.tortoise_migrations_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: tortoise_migrations_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.tortoise_migrations_id_seq OWNED BY public.tortoise_migrations.id;

--
-- Name: webhook_delivery; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_delivery (
    id bigint NOT NULL,
    status character varying(12) NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    last_status_code integer,
    last_error text,
    delivered_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    endpoint_id integer NOT NULL,
    event_id bigint NOT NULL
);

--
-- Name: TABLE webhook_delivery; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_delivery IS 'One event to one endpoint: retried with growing delays until delivered or dead.';

--
-- Name: COLUMN webhook_delivery.status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_delivery.status IS 'PENDING: PENDING\nDELIVERED: DELIVERED\nDEAD: DEAD';

--
-- Name: webhook_delivery_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhook_delivery_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: webhook_delivery_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhook_delivery_id_seq OWNED BY public.webhook_delivery.id;

--
-- Name: webhook_endpoint; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_endpoint (
    id integer NOT NULL,
    url character varying(500) NOT NULL,
    events jsonb NOT NULL,
    secret character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    disabled_at timestamp with time zone,
    partner_id integer,
    brand_id integer NOT NULL
);

--
-- Name: TABLE webhook_endpoint; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_endpoint IS 'Where a partner wants its events posted, signed with the endpoint''s own secret.';

--
-- Name: webhook_endpoint_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhook_endpoint_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: webhook_endpoint_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhook_endpoint_id_seq OWNED BY public.webhook_endpoint.id;

--
-- Name: webhook_event; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_event (
    id bigint NOT NULL,
    event_id character varying(40) NOT NULL,
    type character varying(40) NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamp with time zone NOT NULL,
    partner_id integer,
    trace_context jsonb,
    brand_id integer NOT NULL
);

--
-- Name: TABLE webhook_event; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_event IS 'The outbox: an event written in the same transaction as the change it tells of.';

--
-- Name: webhook_event_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhook_event_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: webhook_event_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhook_event_id_seq OWNED BY public.webhook_event.id;

--
-- Name: active_day id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.active_day ALTER COLUMN id SET DEFAULT nextval('public.active_day_id_seq'::regclass);

--
-- Name: api_key id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_key ALTER COLUMN id SET DEFAULT nextval('public.api_key_id_seq'::regclass);

--
-- Name: audit_entry id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_entry ALTER COLUMN id SET DEFAULT nextval('public.audit_entry_id_seq'::regclass);

--
-- Name: award id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.award ALTER COLUMN id SET DEFAULT nextval('public.award_id_seq'::regclass);

--
-- Name: brand id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.brand ALTER COLUMN id SET DEFAULT nextval('public.brand_id_seq'::regclass);

--
-- Name: catalog_item id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_item ALTER COLUMN id SET DEFAULT nextval('public.catalog_item_id_seq'::regclass);

--
-- Name: coupon id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.coupon ALTER COLUMN id SET DEFAULT nextval('public.coupon_id_seq'::regclass);

--
-- Name: earning_rule id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.earning_rule ALTER COLUMN id SET DEFAULT nextval('public.earning_rule_id_seq'::regclass);

--
-- Name: expiry_rollup id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.expiry_rollup ALTER COLUMN id SET DEFAULT nextval('public.expiry_rollup_id_seq'::regclass);

--
-- Name: flash_sale id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flash_sale ALTER COLUMN id SET DEFAULT nextval('public.flash_sale_id_seq'::regclass);

--
-- Name: flash_sale_reminder id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flash_sale_reminder ALTER COLUMN id SET DEFAULT nextval('public.flash_sale_reminder_id_seq'::regclass);

--
-- Name: idempotency_record id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_record ALTER COLUMN id SET DEFAULT nextval('public.idempotency_record_id_seq'::regclass);

--
-- Name: ledger_entry id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entry ALTER COLUMN id SET DEFAULT nextval('public.ledger_entry_id_seq'::regclass);

--
-- Name: ledger_rollup id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_rollup ALTER COLUMN id SET DEFAULT nextval('public.ledger_rollup_id_seq'::regclass);

--
-- Name: lot id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot ALTER COLUMN id SET DEFAULT nextval('public.lot_id_seq'::regclass);

--
-- Name: lot_consumption id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot_consumption ALTER COLUMN id SET DEFAULT nextval('public.lot_consumption_id_seq'::regclass);

--
-- Name: lot_reminder id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot_reminder ALTER COLUMN id SET DEFAULT nextval('public.lot_reminder_id_seq'::regclass);

--
-- Name: member id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member ALTER COLUMN id SET DEFAULT nextval('public.member_id_seq'::regclass);

--
-- Name: member_day id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_day ALTER COLUMN id SET DEFAULT nextval('public.member_day_id_seq'::regclass);

--
-- Name: member_filter id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_filter ALTER COLUMN id SET DEFAULT nextval('public.member_filter_id_seq'::regclass);

--
-- Name: member_number id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_number ALTER COLUMN id SET DEFAULT nextval('public.member_number_id_seq'::regclass);

--
-- Name: member_segment id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_segment ALTER COLUMN id SET DEFAULT nextval('public.member_segment_id_seq'::regclass);

--
-- Name: member_status_change id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_status_change ALTER COLUMN id SET DEFAULT nextval('public.member_status_change_id_seq'::regclass);

--
-- Name: member_tag id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_tag ALTER COLUMN id SET DEFAULT nextval('public.member_tag_id_seq'::regclass);

--
-- Name: notice id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice ALTER COLUMN id SET DEFAULT nextval('public.notice_id_seq'::regclass);

--
-- Name: notice_delivery id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_delivery ALTER COLUMN id SET DEFAULT nextval('public.notice_delivery_id_seq'::regclass);

--
-- Name: notice_gateway id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_gateway ALTER COLUMN id SET DEFAULT nextval('public.notice_gateway_id_seq'::regclass);

--
-- Name: notice_switch id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_switch ALTER COLUMN id SET DEFAULT nextval('public.notice_switch_id_seq'::regclass);

--
-- Name: notice_template id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_template ALTER COLUMN id SET DEFAULT nextval('public.notice_template_id_seq'::regclass);

--
-- Name: partner id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.partner ALTER COLUMN id SET DEFAULT nextval('public.partner_id_seq'::regclass);

--
-- Name: purchase id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchase ALTER COLUMN id SET DEFAULT nextval('public.purchase_id_seq'::regclass);

--
-- Name: redemption id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.redemption ALTER COLUMN id SET DEFAULT nextval('public.redemption_id_seq'::regclass);

--
-- Name: risk_flag id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.risk_flag ALTER COLUMN id SET DEFAULT nextval('public.risk_flag_id_seq'::regclass);

--
-- Name: store id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.store ALTER COLUMN id SET DEFAULT nextval('public.store_id_seq'::regclass);

--
-- Name: tier id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier ALTER COLUMN id SET DEFAULT nextval('public.tier_id_seq'::regclass);

--
-- Name: tier_change id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier_change ALTER COLUMN id SET DEFAULT nextval('public.tier_change_id_seq'::regclass);

--
-- Name: tortoise_migrations id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tortoise_migrations ALTER COLUMN id SET DEFAULT nextval('public.tortoise_migrations_id_seq'::regclass);

--
-- Name: webhook_delivery id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_delivery ALTER COLUMN id SET DEFAULT nextval('public.webhook_delivery_id_seq'::regclass);

--
-- Name: webhook_endpoint id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_endpoint ALTER COLUMN id SET DEFAULT nextval('public.webhook_endpoint_id_seq'::regclass);

--
-- Name: webhook_event id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_event ALTER COLUMN id SET DEFAULT nextval('public.webhook_event_id_seq'::regclass);

--
-- Name: tortoise_migrations tortoise_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tortoise_migrations
    ADD CONSTRAINT tortoise_migrations_pkey PRIMARY KEY (id);

--
-- Name: tortoise_migrations uid_tortoise_mi_app_3803a5; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tortoise_migrations
    ADD CONSTRAINT uid_tortoise_mi_app_3803a5 UNIQUE (app, name);

--
-- Name: brand brand_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.brand
    ADD CONSTRAINT brand_pkey PRIMARY KEY (id);

--
-- Name: brand brand_code_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.brand
    ADD CONSTRAINT brand_code_key UNIQUE (code);

--
-- Name: idempotency_record idempotency_record_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_record
    ADD CONSTRAINT idempotency_record_pkey PRIMARY KEY (id);

--
-- Name: idx_idempotency_created_9a043f; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_idempotency_created_9a043f ON public.idempotency_record USING btree (created_at);

--
-- Name: store store_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.store
    ADD CONSTRAINT store_pkey PRIMARY KEY (id);

--
-- Name: tier tier_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier
    ADD CONSTRAINT tier_pkey PRIMARY KEY (id);

--
-- Name: idempotency_record idempotency_scope; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_record
    ADD CONSTRAINT idempotency_scope UNIQUE (brand_id, principal, operation, key);

--
-- Name: store store_brand_code; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.store
    ADD CONSTRAINT store_brand_code UNIQUE (brand_id, code);

--
-- Name: tier tier_brand_code; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier
    ADD CONSTRAINT tier_brand_code UNIQUE (brand_id, code);

--
-- Name: tier tier_brand_rank; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier
    ADD CONSTRAINT tier_brand_rank UNIQUE (brand_id, rank);

--
-- Name: member member_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_pkey PRIMARY KEY (id);

--
-- Name: balance balance_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.balance
    ADD CONSTRAINT balance_pkey PRIMARY KEY (member_id);

--
-- Name: ledger_entry ledger_entry_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entry
    ADD CONSTRAINT ledger_entry_pkey PRIMARY KEY (id);

--
-- Name: member_status_change member_status_change_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_status_change
    ADD CONSTRAINT member_status_change_pkey PRIMARY KEY (id);

--
-- Name: purchase purchase_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchase
    ADD CONSTRAINT purchase_pkey PRIMARY KEY (id);

--
-- Name: lot lot_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot
    ADD CONSTRAINT lot_pkey PRIMARY KEY (id);

--
-- Name: lot_consumption lot_consumption_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot_consumption
    ADD CONSTRAINT lot_consumption_pkey PRIMARY KEY (id);

--
-- Name: member member_brand_phone; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_brand_phone UNIQUE (brand_id, phone);

--
-- Name: member member_brand_email; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_brand_email UNIQUE (brand_id, email);

--
-- Name: member member_referral_code; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_referral_code UNIQUE (brand_id, referral_code);

--
-- Name: member member_member_code; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_member_code UNIQUE (brand_id, member_code);

--
-- Name: ledger_entry ledger_member_version; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entry
    ADD CONSTRAINT ledger_member_version UNIQUE (member_id, version);

--
-- Name: idx_lot_entry_i_21c11c; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_lot_entry_i_21c11c ON public.lot USING btree (entry_id);

--
-- Name: idx_lot_purchas_36a5d3; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_lot_purchas_36a5d3 ON public.lot USING btree (purchase_id);

--
-- Name: idx_lot_consump_entry_i_dd5627; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_lot_consump_entry_i_dd5627 ON public.lot_consumption USING btree (entry_id);

--
-- Name: idx_lot_consump_lot_id_eac590; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_lot_consump_lot_id_eac590 ON public.lot_consumption USING btree (lot_id);

--
-- Name: idx_member_stat_member__b0e1e9; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_member_stat_member__b0e1e9 ON public.member_status_change USING btree (member_id);

--
-- Name: idx_purchase_earn_en_2ac17a; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_purchase_earn_en_2ac17a ON public.purchase USING btree (earn_entry_id);

--
-- Name: lot_live_by_expiry; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX lot_live_by_expiry ON public.lot USING btree (member_id, expires_at) WHERE ((expired_at IS NULL) AND (remaining > 0));

--
-- Name: tier_change tier_change_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier_change
    ADD CONSTRAINT tier_change_pkey PRIMARY KEY (id);

--
-- Name: idx_tier_change_member__6bb587; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_tier_change_member__6bb587 ON public.tier_change USING btree (member_id);

--
-- Name: idx_ledger_entr_member__d232e0; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ledger_entr_member__d232e0 ON public.ledger_entry USING btree (member_id, created_at);

--
-- Name: earning_rule earning_rule_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.earning_rule
    ADD CONSTRAINT earning_rule_pkey PRIMARY KEY (id);

--
-- Name: award award_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.award
    ADD CONSTRAINT award_pkey PRIMARY KEY (id);

--
-- Name: idx_award_member__3388e7; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_award_member__3388e7 ON public.award USING btree (member_id, kind, local_day);

--
-- Name: idx_purchase_member__0284a9; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_purchase_member__0284a9 ON public.purchase USING btree (member_id, earn_day);

--
-- Name: earning_rule earning_rule_brand_code; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.earning_rule
    ADD CONSTRAINT earning_rule_brand_code UNIQUE (brand_id, code);

--
-- Name: award award_once; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.award
    ADD CONSTRAINT award_once UNIQUE (member_id, kind, once_key);

--
-- Name: catalog_item catalog_item_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_item
    ADD CONSTRAINT catalog_item_pkey PRIMARY KEY (id);

--
-- Name: idx_catalog_ite_brand_i_895295; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_catalog_ite_brand_i_895295 ON public.catalog_item USING btree (brand_id, status, category);

--
-- Name: redemption redemption_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.redemption
    ADD CONSTRAINT redemption_pkey PRIMARY KEY (id);

--
-- Name: idx_redemption_member__17ec84; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_redemption_member__17ec84 ON public.redemption USING btree (member_id, item_id);

--
-- Name: idx_redemption_status_3ad830; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_redemption_status_3ad830 ON public.redemption USING btree (status, payment_due_at);

--
-- Name: coupon coupon_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.coupon
    ADD CONSTRAINT coupon_pkey PRIMARY KEY (id);

--
-- Name: idx_coupon_redempt_8e2ea3; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_coupon_redempt_8e2ea3 ON public.coupon USING btree (redemption_id);

--
-- Name: catalog_item catalog_item_brand_sku; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_item
    ADD CONSTRAINT catalog_item_brand_sku UNIQUE (brand_id, sku);

--
-- Name: flash_sale flash_sale_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flash_sale
    ADD CONSTRAINT flash_sale_pkey PRIMARY KEY (id);

--
-- Name: idx_flash_sale_brand_i_61a9dc; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_flash_sale_brand_i_61a9dc ON public.flash_sale USING btree (brand_id, starts_at);

--
-- Name: redemption redemption_reservation_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.redemption
    ADD CONSTRAINT redemption_reservation_id_key UNIQUE (reservation_id);

--
-- Name: partner partner_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.partner
    ADD CONSTRAINT partner_pkey PRIMARY KEY (id);

--
-- Name: api_key api_key_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_key
    ADD CONSTRAINT api_key_pkey PRIMARY KEY (id);

--
-- Name: api_key api_key_prefix_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_key
    ADD CONSTRAINT api_key_prefix_key UNIQUE (prefix);

--
-- Name: partner partner_brand_code; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.partner
    ADD CONSTRAINT partner_brand_code UNIQUE (brand_id, code);

--
-- Name: purchase_brand_partner_order_ref; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX purchase_brand_partner_order_ref ON public.purchase USING btree (brand_id, partner_id, order_ref) NULLS NOT DISTINCT;

--
-- Name: ledger_partner_by_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ledger_partner_by_time ON public.ledger_entry USING btree (partner_id, created_at) WHERE (partner_id IS NOT NULL);

--
-- Name: webhook_endpoint webhook_endpoint_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_endpoint
    ADD CONSTRAINT webhook_endpoint_pkey PRIMARY KEY (id);

--
-- Name: webhook_event webhook_event_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_event
    ADD CONSTRAINT webhook_event_pkey PRIMARY KEY (id);

--
-- Name: webhook_event webhook_event_event_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_event
    ADD CONSTRAINT webhook_event_event_id_key UNIQUE (event_id);

--
-- Name: webhook_delivery webhook_delivery_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_delivery
    ADD CONSTRAINT webhook_delivery_pkey PRIMARY KEY (id);

--
-- Name: idx_webhook_del_status_5b6f00; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_webhook_del_status_5b6f00 ON public.webhook_delivery USING btree (status, next_attempt_at);

--
-- Name: webhook_delivery delivery_event_endpoint; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_delivery
    ADD CONSTRAINT delivery_event_endpoint UNIQUE (event_id, endpoint_id);

--
-- Name: coupon_owner_code; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX coupon_owner_code ON public.coupon USING btree (brand_id, code, partner_id) NULLS NOT DISTINCT;

--
-- Name: flash_sale_reminder flash_sale_reminder_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flash_sale_reminder
    ADD CONSTRAINT flash_sale_reminder_pkey PRIMARY KEY (id);

--
-- Name: lot_reminder lot_reminder_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot_reminder
    ADD CONSTRAINT lot_reminder_pkey PRIMARY KEY (id);

--
-- Name: notice notice_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice
    ADD CONSTRAINT notice_pkey PRIMARY KEY (id);

--
-- Name: idx_notice_member__13542a; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_notice_member__13542a ON public.notice USING btree (member_id, id);

--
-- Name: notice_gateway notice_gateway_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_gateway
    ADD CONSTRAINT notice_gateway_pkey PRIMARY KEY (id);

--
-- Name: notice_delivery notice_delivery_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_delivery
    ADD CONSTRAINT notice_delivery_pkey PRIMARY KEY (id);

--
-- Name: idx_notice_deli_status_4f676b; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_notice_deli_status_4f676b ON public.notice_delivery USING btree (status, next_attempt_at);

--
-- Name: notice_switch notice_switch_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_switch
    ADD CONSTRAINT notice_switch_pkey PRIMARY KEY (id);

--
-- Name: notice_template notice_template_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_template
    ADD CONSTRAINT notice_template_pkey PRIMARY KEY (id);

--
-- Name: flash_sale_reminder flash_sale_reminder_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flash_sale_reminder
    ADD CONSTRAINT flash_sale_reminder_key UNIQUE (sale_id, member_id);

--
-- Name: lot_reminder lot_reminder_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot_reminder
    ADD CONSTRAINT lot_reminder_key UNIQUE (lot_id, days_before);

--
-- Name: notice notice_brand_dedupe_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice
    ADD CONSTRAINT notice_brand_dedupe_key UNIQUE (brand_id, dedupe_key);

--
-- Name: notice_gateway notice_gateway_brand_channel; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_gateway
    ADD CONSTRAINT notice_gateway_brand_channel UNIQUE (brand_id, channel);

--
-- Name: notice_delivery notice_delivery_gateway; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_delivery
    ADD CONSTRAINT notice_delivery_gateway UNIQUE (notice_id, gateway_id);

--
-- Name: notice_switch notice_switch_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_switch
    ADD CONSTRAINT notice_switch_key UNIQUE (brand_id, kind, channel);

--
-- Name: notice_template notice_template_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_template
    ADD CONSTRAINT notice_template_key UNIQUE (brand_id, kind, channel, locale);

--
-- Name: expiry_rollup expiry_rollup_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.expiry_rollup
    ADD CONSTRAINT expiry_rollup_pkey PRIMARY KEY (id);

--
-- Name: ledger_rollup ledger_rollup_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_rollup
    ADD CONSTRAINT ledger_rollup_pkey PRIMARY KEY (id);

--
-- Name: idx_ledger_roll_brand_i_889e2a; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ledger_roll_brand_i_889e2a ON public.ledger_rollup USING btree (brand_id, day);

--
-- Name: member_day member_day_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_day
    ADD CONSTRAINT member_day_pkey PRIMARY KEY (id);

--
-- Name: idx_member_day_brand_i_782f2c; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_member_day_brand_i_782f2c ON public.member_day USING btree (brand_id, day);

--
-- Name: member_segment member_segment_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_segment
    ADD CONSTRAINT member_segment_pkey PRIMARY KEY (id);

--
-- Name: member_segment member_segment_member_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_segment
    ADD CONSTRAINT member_segment_member_id_key UNIQUE (member_id);

--
-- Name: idx_member_segm_brand_i_6e9938; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_member_segm_brand_i_6e9938 ON public.member_segment USING btree (brand_id, segment);

--
-- Name: idx_member_segm_brand_i_ef052f; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_member_segm_brand_i_ef052f ON public.member_segment USING btree (brand_id, spend, member_id);

--
-- Name: rollup_watermark rollup_watermark_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rollup_watermark
    ADD CONSTRAINT rollup_watermark_pkey PRIMARY KEY (name);

--
-- Name: expiry_rollup expiry_rollup_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.expiry_rollup
    ADD CONSTRAINT expiry_rollup_key UNIQUE (brand_id, month, shard);

--
-- Name: ledger_rollup ledger_rollup_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_rollup
    ADD CONSTRAINT ledger_rollup_key UNIQUE (brand_id, day, kind, store_id, partner_id, tier_id, rule);

--
-- Name: member_day member_day_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_day
    ADD CONSTRAINT member_day_key UNIQUE (member_id, day);

--
-- Name: ledger_entry_txid; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ledger_entry_txid ON public.ledger_entry USING btree (txid);

--
-- Name: audit_entry audit_entry_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_entry
    ADD CONSTRAINT audit_entry_pkey PRIMARY KEY (id);

--
-- Name: idx_audit_entry_brand_i_f28c5b; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_audit_entry_brand_i_f28c5b ON public.audit_entry USING btree (brand_id, created_at);

--
-- Name: idx_audit_entry_brand_i_4b3623; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_audit_entry_brand_i_4b3623 ON public.audit_entry USING btree (brand_id, actor, created_at);

--
-- Name: risk_flag risk_flag_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.risk_flag
    ADD CONSTRAINT risk_flag_pkey PRIMARY KEY (id);

--
-- Name: idx_risk_flag_brand_i_dc12b3; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_risk_flag_brand_i_dc12b3 ON public.risk_flag USING btree (brand_id, status, id);

--
-- Name: idx_risk_flag_member__838ae0; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_risk_flag_member__838ae0 ON public.risk_flag USING btree (member_id, status);

--
-- Name: member_brand_tier; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX member_brand_tier ON public.member USING btree (brand_id, tier_id);

--
-- Name: member_brand_joined; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX member_brand_joined ON public.member USING btree (brand_id, joined_at);

--
-- Name: purchase_member_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX purchase_member_time ON public.purchase USING btree (member_id, occurred_at);

--
-- Name: active_day active_day_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.active_day
    ADD CONSTRAINT active_day_pkey PRIMARY KEY (id);

--
-- Name: member_number member_number_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_number
    ADD CONSTRAINT member_number_pkey PRIMARY KEY (id);

--
-- Name: member_number member_number_member_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_number
    ADD CONSTRAINT member_number_member_id_key UNIQUE (member_id);

--
-- Name: active_day active_day_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.active_day
    ADD CONSTRAINT active_day_key UNIQUE (brand_id, day, chunk);

--
-- Name: member_number member_number_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_number
    ADD CONSTRAINT member_number_key UNIQUE (brand_id, number);

--
-- Name: tier_change_moves; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tier_change_moves ON public.tier_change USING btree (current_id, changed_at) INCLUDE (previous_id, member_id);

--
-- Name: member member_external_id; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_external_id UNIQUE (brand_id, external_id);

--
-- Name: balance_pending; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX balance_pending ON public.balance USING btree (member_id) WHERE (pending > 0);

--
-- Name: lot_held_by_member; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX lot_held_by_member ON public.lot USING btree (member_id, held_until) WHERE (held_until IS NOT NULL);

--
-- Name: webhook_endpoint_brand_own; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_endpoint_brand_own ON public.webhook_endpoint USING btree (brand_id) WHERE (partner_id IS NULL);

--
-- Name: member_device; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX member_device ON public.member USING btree (brand_id, device_id, joined_at) WHERE (device_id IS NOT NULL);

--
-- Name: member_filter member_filter_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_filter
    ADD CONSTRAINT member_filter_pkey PRIMARY KEY (id);

--
-- Name: member_tag member_tag_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_tag
    ADD CONSTRAINT member_tag_pkey PRIMARY KEY (id);

--
-- Name: idx_member_tag_brand_i_6ccb35; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_member_tag_brand_i_6ccb35 ON public.member_tag USING btree (brand_id, tag);

--
-- Name: member_filter member_filter_code; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_filter
    ADD CONSTRAINT member_filter_code UNIQUE (brand_id, code);

--
-- Name: member_tag member_tag_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_tag
    ADD CONSTRAINT member_tag_key UNIQUE (member_id, tag);

--
-- Name: api_key api_key_partner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_key
    ADD CONSTRAINT api_key_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;

--
-- Name: award award_entry_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.award
    ADD CONSTRAINT award_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES public.ledger_entry(id) ON DELETE SET NULL;

--
-- Name: award award_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.award
    ADD CONSTRAINT award_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: award award_reversed_by_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.award
    ADD CONSTRAINT award_reversed_by_id_fkey FOREIGN KEY (reversed_by_id) REFERENCES public.ledger_entry(id) ON DELETE SET NULL;

--
-- Name: award award_rule_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.award
    ADD CONSTRAINT award_rule_id_fkey FOREIGN KEY (rule_id) REFERENCES public.earning_rule(id) ON DELETE SET NULL;

--
-- Name: balance balance_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.balance
    ADD CONSTRAINT balance_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: catalog_item catalog_item_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_item
    ADD CONSTRAINT catalog_item_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: catalog_item catalog_item_min_tier_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_item
    ADD CONSTRAINT catalog_item_min_tier_id_fkey FOREIGN KEY (min_tier_id) REFERENCES public.tier(id) ON DELETE RESTRICT;

--
-- Name: catalog_item catalog_item_partner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_item
    ADD CONSTRAINT catalog_item_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE RESTRICT;

--
-- Name: catalog_item catalog_item_upgrade_tier_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_item
    ADD CONSTRAINT catalog_item_upgrade_tier_id_fkey FOREIGN KEY (upgrade_tier_id) REFERENCES public.tier(id) ON DELETE RESTRICT;

--
-- Name: coupon coupon_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.coupon
    ADD CONSTRAINT coupon_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: coupon coupon_item_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.coupon
    ADD CONSTRAINT coupon_item_id_fkey FOREIGN KEY (item_id) REFERENCES public.catalog_item(id) ON DELETE CASCADE;

--
-- Name: coupon coupon_partner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.coupon
    ADD CONSTRAINT coupon_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE RESTRICT;

--
-- Name: coupon coupon_redemption_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.coupon
    ADD CONSTRAINT coupon_redemption_id_fkey FOREIGN KEY (redemption_id) REFERENCES public.redemption(id) ON DELETE CASCADE;

--
-- Name: earning_rule earning_rule_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.earning_rule
    ADD CONSTRAINT earning_rule_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: flash_sale flash_sale_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flash_sale
    ADD CONSTRAINT flash_sale_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: flash_sale flash_sale_item_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flash_sale
    ADD CONSTRAINT flash_sale_item_id_fkey FOREIGN KEY (item_id) REFERENCES public.catalog_item(id) ON DELETE RESTRICT;

--
-- Name: flash_sale_reminder flash_sale_reminder_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flash_sale_reminder
    ADD CONSTRAINT flash_sale_reminder_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: flash_sale_reminder flash_sale_reminder_sale_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.flash_sale_reminder
    ADD CONSTRAINT flash_sale_reminder_sale_id_fkey FOREIGN KEY (sale_id) REFERENCES public.flash_sale(id) ON DELETE CASCADE;

--
-- Name: idempotency_record idempotency_record_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_record
    ADD CONSTRAINT idempotency_record_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: ledger_entry ledger_entry_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entry
    ADD CONSTRAINT ledger_entry_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: ledger_entry ledger_entry_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entry
    ADD CONSTRAINT ledger_entry_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: ledger_entry ledger_entry_partner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entry
    ADD CONSTRAINT ledger_entry_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE RESTRICT;

--
-- Name: ledger_entry ledger_entry_store_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entry
    ADD CONSTRAINT ledger_entry_store_id_fkey FOREIGN KEY (store_id) REFERENCES public.store(id) ON DELETE SET NULL;

--
-- Name: lot_consumption lot_consumption_entry_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot_consumption
    ADD CONSTRAINT lot_consumption_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES public.ledger_entry(id) ON DELETE CASCADE;

--
-- Name: lot_consumption lot_consumption_lot_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot_consumption
    ADD CONSTRAINT lot_consumption_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lot(id) ON DELETE CASCADE;

--
-- Name: lot lot_entry_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot
    ADD CONSTRAINT lot_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES public.ledger_entry(id) ON DELETE CASCADE;

--
-- Name: lot lot_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot
    ADD CONSTRAINT lot_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: lot lot_purchase_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot
    ADD CONSTRAINT lot_purchase_id_fkey FOREIGN KEY (purchase_id) REFERENCES public.purchase(id) ON DELETE SET NULL;

--
-- Name: lot_reminder lot_reminder_lot_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.lot_reminder
    ADD CONSTRAINT lot_reminder_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES public.lot(id) ON DELETE CASCADE;

--
-- Name: member member_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: member_filter member_filter_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_filter
    ADD CONSTRAINT member_filter_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: member member_referred_by_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_referred_by_id_fkey FOREIGN KEY (referred_by_id) REFERENCES public.member(id) ON DELETE SET NULL;

--
-- Name: member_status_change member_status_change_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_status_change
    ADD CONSTRAINT member_status_change_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: member_tag member_tag_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member_tag
    ADD CONSTRAINT member_tag_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: member member_tier_floor_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_tier_floor_id_fkey FOREIGN KEY (tier_floor_id) REFERENCES public.tier(id) ON DELETE RESTRICT;

--
-- Name: member member_tier_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_tier_id_fkey FOREIGN KEY (tier_id) REFERENCES public.tier(id) ON DELETE RESTRICT;

--
-- Name: notice notice_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice
    ADD CONSTRAINT notice_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: notice_delivery notice_delivery_gateway_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_delivery
    ADD CONSTRAINT notice_delivery_gateway_id_fkey FOREIGN KEY (gateway_id) REFERENCES public.notice_gateway(id) ON DELETE CASCADE;

--
-- Name: notice_delivery notice_delivery_notice_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_delivery
    ADD CONSTRAINT notice_delivery_notice_id_fkey FOREIGN KEY (notice_id) REFERENCES public.notice(id) ON DELETE CASCADE;

--
-- Name: notice_gateway notice_gateway_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_gateway
    ADD CONSTRAINT notice_gateway_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: notice notice_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice
    ADD CONSTRAINT notice_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: notice_switch notice_switch_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_switch
    ADD CONSTRAINT notice_switch_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: notice_template notice_template_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notice_template
    ADD CONSTRAINT notice_template_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: partner partner_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.partner
    ADD CONSTRAINT partner_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: purchase purchase_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchase
    ADD CONSTRAINT purchase_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: purchase purchase_earn_entry_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchase
    ADD CONSTRAINT purchase_earn_entry_id_fkey FOREIGN KEY (earn_entry_id) REFERENCES public.ledger_entry(id) ON DELETE CASCADE;

--
-- Name: purchase purchase_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchase
    ADD CONSTRAINT purchase_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: purchase purchase_partner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchase
    ADD CONSTRAINT purchase_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE RESTRICT;

--
-- Name: purchase purchase_store_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchase
    ADD CONSTRAINT purchase_store_id_fkey FOREIGN KEY (store_id) REFERENCES public.store(id) ON DELETE SET NULL;

--
-- Name: redemption redemption_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.redemption
    ADD CONSTRAINT redemption_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: redemption redemption_flash_sale_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.redemption
    ADD CONSTRAINT redemption_flash_sale_id_fkey FOREIGN KEY (flash_sale_id) REFERENCES public.flash_sale(id) ON DELETE RESTRICT;

--
-- Name: redemption redemption_item_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.redemption
    ADD CONSTRAINT redemption_item_id_fkey FOREIGN KEY (item_id) REFERENCES public.catalog_item(id) ON DELETE RESTRICT;

--
-- Name: redemption redemption_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.redemption
    ADD CONSTRAINT redemption_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: redemption redemption_redeem_entry_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.redemption
    ADD CONSTRAINT redemption_redeem_entry_id_fkey FOREIGN KEY (redeem_entry_id) REFERENCES public.ledger_entry(id) ON DELETE SET NULL;

--
-- Name: store store_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.store
    ADD CONSTRAINT store_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: tier tier_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier
    ADD CONSTRAINT tier_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: tier_change tier_change_current_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier_change
    ADD CONSTRAINT tier_change_current_id_fkey FOREIGN KEY (current_id) REFERENCES public.tier(id) ON DELETE RESTRICT;

--
-- Name: tier_change tier_change_member_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier_change
    ADD CONSTRAINT tier_change_member_id_fkey FOREIGN KEY (member_id) REFERENCES public.member(id) ON DELETE CASCADE;

--
-- Name: tier_change tier_change_previous_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tier_change
    ADD CONSTRAINT tier_change_previous_id_fkey FOREIGN KEY (previous_id) REFERENCES public.tier(id) ON DELETE SET NULL;

--
-- Name: webhook_delivery webhook_delivery_endpoint_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_delivery
    ADD CONSTRAINT webhook_delivery_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES public.webhook_endpoint(id) ON DELETE CASCADE;

--
-- Name: webhook_delivery webhook_delivery_event_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_delivery
    ADD CONSTRAINT webhook_delivery_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.webhook_event(id) ON DELETE CASCADE;

--
-- Name: webhook_endpoint webhook_endpoint_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_endpoint
    ADD CONSTRAINT webhook_endpoint_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: webhook_endpoint webhook_endpoint_partner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_endpoint
    ADD CONSTRAINT webhook_endpoint_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;

--
-- Name: webhook_event webhook_event_brand_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_event
    ADD CONSTRAINT webhook_event_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES public.brand(id) ON DELETE CASCADE;

--
-- Name: webhook_event webhook_event_partner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_event
    ADD CONSTRAINT webhook_event_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES public.partner(id) ON DELETE CASCADE;

--
-- PostgreSQL database dump complete
--


--
-- The rows the migrations seed
--

INSERT INTO public.rollup_watermark (name, next_xid, rolled_at)
SELECT name, pg_current_xact_id()::text::bigint + 1, now() FROM (VALUES ('ledger'), ('members')) AS seeded (name);

INSERT INTO public.tortoise_migrations (app, name, applied_at)
SELECT app, name, now() FROM (VALUES ('models', '0001_initial'), ('models', '0002_members_and_ledger'), ('models', '0003_indexes'), ('models', '0004_tiers'), ('models', '0005_earning_rules'), ('models', '0006_catalog'), ('models', '0007_flash_sales'), ('models', '0008_partners'), ('models', '0009_partner_offers_and_purchases'), ('models', '0010_settlement'), ('models', '0011_partner_rules'), ('models', '0012_webhooks'), ('models', '0013_offer_code_pools'), ('models', '0014_earning_version'), ('models', '0015_partner_privacy'), ('models', '0016_webhook_trace_context'), ('models', '0017_notices'), ('models', '0018_insights'), ('models', '0019_no_free_points'), ('models', '0020_audit_trail'), ('models', '0021_velocity_limits'), ('models', '0022_step_up'), ('models', '0023_insight_indexes'), ('models', '0024_purchase_history_index'), ('models', '0025_active_members'), ('models', '0026_brand_onboarding'), ('models', '0027_member_import'), ('models', '0028_pending_points'), ('models', '0029_brand_webhooks'), ('models', '0030_purchase_count_rules'), ('models', '0031_segments'), ('models', '0032_tier_metric'), ('models', '0033_tier_upgrades_and_gifts'), ('models', '0034_refuse')) AS applied (app, name);
