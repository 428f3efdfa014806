-- pgbench script: the balance of a random account acc<N>.
\set a random(0, :accounts - 1)
SELECT balance FROM accounts WHERE id = 'acc' || :a::text;
