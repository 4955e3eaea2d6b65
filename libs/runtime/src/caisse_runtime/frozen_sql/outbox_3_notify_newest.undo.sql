create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
    if not exists (select 1 from outbox where sent_at is null and seq < new.seq) then
        perform pg_notify('caisse_outbox', '');
    end if;
    return null;
end $$;
