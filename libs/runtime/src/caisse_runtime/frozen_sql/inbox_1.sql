create table inbox (
    consumer_group text not null,
    event_id uuid not null,
    event_type text not null,
    processed_at timestamptz not null default now(),
    primary key (consumer_group, event_id)
);
