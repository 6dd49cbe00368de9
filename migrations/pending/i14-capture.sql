-- Issue 14, the audit capture's write path: an UPDATE pairs its old and new
-- rows with an inner hash join (nested loops off in the capture function)
-- instead of a FULL JOIN. Every tracked table's capture is regenerated; no
-- table changes, so every event written and sealed before verifies as it did.

--!include audit/capture-generator.sql

select audit.generate_capture(t.table_oid)
from audit.tracked_tables t join pg_catalog.pg_class c on c.oid = t.table_oid
where t.disabled_at is null;
