alter table outbox alter column payload type jsonb using payload::jsonb,
                   alter column headers type jsonb using headers::jsonb;
drop trigger outbox_notify on outbox;
create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('caisse_outbox', '');
    return null;
end $$;
create trigger outbox_notify after insert on outbox for each statement execute function outbox_notify();
