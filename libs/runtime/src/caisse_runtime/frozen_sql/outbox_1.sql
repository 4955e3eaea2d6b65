create table outbox (
    seq bigserial primary key,
    id uuid not null unique,
    aggregate_type text not null,
    aggregate_id text not null,
    type text not null,
    topic text not null,
    key text not null,
    payload jsonb not null,
    headers jsonb not null,
    traceparent text,
    tracestate text,
    created_at timestamptz not null default now(),
    sent_at timestamptz,
    attempts integer not null default 0
);
create index outbox_unsent on outbox (seq) where sent_at is null;
create function outbox_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('caisse_outbox', '');
    return null;
end $$;
create trigger outbox_notify after insert on outbox for each statement execute function outbox_notify();
