"""The one place that knows the order an article goes through:

    due feeds -> fetch -> parse -> identify -> dedupe -> filter -> review or render -> enqueue
    -> subscriber copies

`pipeline.poller` claims due feeds and polls each one (fetch with `feeds.fetcher`, read with
`feeds.items` off the event loop, plan the next poll with `feeds.schedule`); `pipeline.articles`
takes a feed's parsed items the rest of the way (identities and filters from
`pipeline.identity`, posts from `pipeline.render`, one atomic queue step in `store`);
`pipeline.publish` is the same road for editors' pushes and review decisions.
"""
