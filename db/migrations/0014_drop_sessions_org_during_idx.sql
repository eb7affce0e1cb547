-- Nothing searches sessions by clinic and `during` any more: since 0011 every calendar read
-- compares starts_at/ends_at (sessions_org_starts_idx), which RLS lets into index searches.
-- The GiST index only cost every session write, and a search by org_id alone through it (a
-- plan an empty table's statistics can choose) was seen to miss rows inserted while the
-- index's root split under concurrent inserts (tests/tests/faults.rs, a confirmation finding
-- no hold; reproduced at 62d1aa2).
drop index app.sessions_org_during_idx;
