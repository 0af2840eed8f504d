-- What a post was made of (`PublishResult.media`): its format and its photo and video
-- counts, from the result that posted it. Null for posts not (yet) published.
ALTER TABLE metrics.job_posts
    ADD COLUMN media_format text,
    ADD COLUMN media_images smallint,
    ADD COLUMN media_videos smallint;
