-- Instagram Login beside Facebook Login: how each connection was made (so which Graph host
-- and which token rules apply), when its token was issued (Instagram's refresh needs a
-- token at least 24 h old), and the scopes granted when Meta does not report them later.

ALTER TABLE distributor.connections
    ADD COLUMN login           text        NOT NULL DEFAULT 'facebook'
                               CHECK (login IN ('facebook', 'instagram')),
    ADD COLUMN token_issued_at timestamptz,
    ADD COLUMN token_scopes    text[]      NOT NULL DEFAULT '{}';
