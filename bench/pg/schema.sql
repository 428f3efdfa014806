-- PostgreSQL peer for make bench: the same transfer as wallet-service's balance_transfer,
-- written the way a careful user would write it in plpgsql.
CREATE TABLE accounts (
    id      text   PRIMARY KEY,
    balance bigint NOT NULL CHECK (balance >= 0)
);

-- One row per side of a movement, like the service's Debit and Credit events, with the
-- per-account index the service also keeps (events of an account, in order).
CREATE TABLE events (
    seq           bigserial   PRIMARY KEY,
    account_id    text        NOT NULL,
    amount        bigint      NOT NULL,
    balance_after bigint      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_account ON events (account_id, seq);

-- Both accounts exist, from <> to, amount > 0, sufficient funds; debit, credit, two events.
-- Rows are locked in ID order so that concurrent opposite transfers cannot deadlock.
CREATE FUNCTION transfer(p_from text, p_to text, p_amount bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    from_balance bigint;
    to_balance   bigint;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid_parameter: amount must be positive';
    END IF;
    IF p_from = p_to THEN
        RAISE EXCEPTION 'same_account';
    END IF;
    PERFORM 1 FROM accounts WHERE id IN (p_from, p_to) ORDER BY id FOR UPDATE;
    SELECT balance INTO from_balance FROM accounts WHERE id = p_from;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account_not_found: %', p_from;
    END IF;
    SELECT balance INTO to_balance FROM accounts WHERE id = p_to;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account_not_found: %', p_to;
    END IF;
    IF from_balance < p_amount THEN
        RAISE EXCEPTION 'insufficient_funds';
    END IF;
    UPDATE accounts SET balance = balance - p_amount WHERE id = p_from;
    UPDATE accounts SET balance = balance + p_amount WHERE id = p_to;
    INSERT INTO events (account_id, amount, balance_after)
    VALUES (p_from, -p_amount, from_balance - p_amount),
           (p_to, p_amount, to_balance + p_amount);
    RETURN from_balance - p_amount;
END
$$;

-- The batch peer: n transfers of 1 between random distinct accounts in one transaction, as a
-- careful user would write it: every account of the batch locked first in ID order (so that
-- concurrent batches cannot deadlock), then transfer() for each, with all its checks.
CREATE FUNCTION transfer_batch(n integer, accounts integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    f text[];
    t text[];
BEGIN
    SELECT array_agg('acc' || a), array_agg('acc' || ((a + 1 + floor(random() * (accounts - 1))::int) % accounts))
    INTO f, t
    FROM (SELECT floor(random() * accounts)::int AS a FROM generate_series(1, n)) AS pairs;
    PERFORM 1 FROM accounts WHERE id = ANY (f || t) ORDER BY id FOR UPDATE;
    FOR i IN 1 .. n LOOP
        PERFORM transfer(f[i], t[i], 1);
    END LOOP;
    RETURN n;
END
$$;
