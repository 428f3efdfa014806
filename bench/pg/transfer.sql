-- pgbench script: transfer 1 between two random distinct accounts acc<N>.
\set a random(0, :accounts - 1)
\set b random(0, :accounts - 2)
\if :b >= :a
\set b :b + 1
\endif
SELECT transfer('acc' || :a::text, 'acc' || :b::text, 1);
