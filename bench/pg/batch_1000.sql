\set n 1000
SELECT transfer_batch(:n, :accounts);
