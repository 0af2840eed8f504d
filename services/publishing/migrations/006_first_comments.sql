-- A post's first comment is a claim of its own (kind 'first_comment'), keyed by a key
-- derived from the post's and inserted in the same transaction as the post's `posted`
-- outcome, due at once: the timer loop makes the comment, so a crash between post and
-- comment still leads to exactly one comment, through the same claim, lease, retry and
-- confirmation machinery as posts.
ALTER TABLE publishing.post_claims
    ADD COLUMN kind text NOT NULL DEFAULT 'post' CHECK (kind IN ('post', 'first_comment'));
