//! `message-sender`: the scheduled delivery of the outbox. (Being written.)
