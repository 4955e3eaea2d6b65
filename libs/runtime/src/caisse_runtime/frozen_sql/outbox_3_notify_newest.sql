create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
    perform 1 from outbox where sent_at is null and seq < new.seq order by seq desc limit 1;
    if not found then
        perform pg_notify('caisse_outbox', '');
    end if;
    return null;
end $$;
