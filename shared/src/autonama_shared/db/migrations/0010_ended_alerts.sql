-- An alert's life: when a key that was BUY or SELL turns HOLD on a newer candle,
-- an "ended" alert is raised (signal HOLD, previous_signal the side that ended),
-- so live views and notifications can close what they opened. An ended alert is
-- never a key's current alert (current_signals.alert_id stays NULL for HOLD).
ALTER TABLE alerts DROP CONSTRAINT alerts_signal_check;
ALTER TABLE alerts DROP CONSTRAINT alerts_reason_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_signal_check
    CHECK (signal IN ('BUY', 'SELL', 'HOLD'));
ALTER TABLE alerts ADD CONSTRAINT alerts_reason_check
    CHECK (reason IN ('new', 'changed', 'confirmed', 'ended'));
-- HOLD is only ever an ending, and an ending always says what it ended.
ALTER TABLE alerts ADD CONSTRAINT alerts_ended_check
    CHECK ((reason = 'ended') = (signal = 'HOLD')
           AND (reason <> 'ended' OR previous_signal IN ('BUY', 'SELL')));
