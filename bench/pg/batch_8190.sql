\set n 8190
SELECT transfer_batch(:n, :accounts);
