drop trigger outbox_notify on outbox;

create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
    if not exists (select 1 from outbox where sent_at is null and seq < new.seq) then
        perform pg_notify('caisse_outbox', '');
    end if;
    return null;
end $$;
create trigger outbox_notify after insert on outbox for each row execute function outbox_notify();
delete from outbox where sent_at is not null;
alter table outbox alter column payload type json using payload::json,
                   alter column headers type json using headers::json;
alter table outbox alter column payload set compression lz4;
