"""The ledger's invariants, enforced by PostgreSQL rather than by Python alone.

* Every entry's currency is its account's and its transaction's currency
  (composite foreign keys), so a transaction holds one currency.
* Every transaction sums to zero and has at least two entries: constraint
  triggers, DEFERRABLE INITIALLY DEFERRED, checked at COMMIT, so a service
  may insert lines one by one inside its transaction.
* Entries and transactions are append-only: UPDATE and DELETE are refused.
  (Corrections are new, balanced transactions.)
"""

from django.db import migrations

FORWARD = r"""
ALTER TABLE billing_ledgeraccount
    ADD CONSTRAINT billing_ledgeraccount_id_currency UNIQUE (id, currency);
ALTER TABLE billing_ledgertransaction
    ADD CONSTRAINT billing_ledgertransaction_id_currency UNIQUE (id, currency);
ALTER TABLE billing_ledgerentry
    ADD CONSTRAINT billing_ledgerentry_account_currency
    FOREIGN KEY (account_id, currency) REFERENCES billing_ledgeraccount (id, currency)
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE billing_ledgerentry
    ADD CONSTRAINT billing_ledgerentry_transaction_currency
    FOREIGN KEY (transaction_id, currency) REFERENCES billing_ledgertransaction (id, currency)
    DEFERRABLE INITIALLY DEFERRED;

CREATE FUNCTION billing_ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    txn_id bigint;
    total numeric;
    lines integer;
BEGIN
    IF TG_TABLE_NAME = 'billing_ledgerentry' THEN
        txn_id := NEW.transaction_id;
    ELSE
        txn_id := NEW.id;
    END IF;
    SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, lines
      FROM billing_ledgerentry WHERE transaction_id = txn_id;
    IF lines < 2 THEN
        RAISE EXCEPTION 'billing_ledgertransaction_balanced: ledger transaction % has % entries (at least 2 needed)', txn_id, lines
            USING ERRCODE = 'check_violation';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'billing_ledgertransaction_balanced: ledger transaction % does not balance (sum % <> 0)', txn_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER billing_ledgerentry_balanced
    AFTER INSERT ON billing_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_check_balanced();

CREATE CONSTRAINT TRIGGER billing_ledgertransaction_balanced
    AFTER INSERT ON billing_ledgertransaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_check_balanced();

CREATE FUNCTION billing_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'billing_ledger_append_only: % on % is refused; post a correcting transaction instead', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER billing_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only();
CREATE TRIGGER billing_ledgertransaction_append_only
    BEFORE UPDATE OR DELETE ON billing_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS billing_ledgertransaction_append_only ON billing_ledgertransaction;
DROP TRIGGER IF EXISTS billing_ledgerentry_append_only ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledger_append_only();
DROP TRIGGER IF EXISTS billing_ledgertransaction_balanced ON billing_ledgertransaction;
DROP TRIGGER IF EXISTS billing_ledgerentry_balanced ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledger_check_balanced();
ALTER TABLE billing_ledgerentry DROP CONSTRAINT IF EXISTS billing_ledgerentry_transaction_currency;
ALTER TABLE billing_ledgerentry DROP CONSTRAINT IF EXISTS billing_ledgerentry_account_currency;
ALTER TABLE billing_ledgertransaction DROP CONSTRAINT IF EXISTS billing_ledgertransaction_id_currency;
ALTER TABLE billing_ledgeraccount DROP CONSTRAINT IF EXISTS billing_ledgeraccount_id_currency;
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
