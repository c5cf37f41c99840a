//! Rate limits across instances: two keywards on one database share one real `redis-server`,
//! so a key's limit holds for the pair; without Redis each enforces the full limit alone. Redis
//! killed, frozen or restarted under load never gets a key refused; `/readyz` tells where the
//! limits are kept. And per-key bursts, in memory and in Redis alike.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::Response;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::db::{SeedKey, Seeded, seed_key};
use crate::helpers::{Backend, Client, RedisServer, TestApp, free_port, spawn_app, spawn_app_with};

both_backends! {
    two_instances_sharing_redis_allow_a_key_exactly_its_limit,
    without_redis_each_instance_enforces_the_full_limit,
    a_redis_outage_never_refuses_a_key_and_the_limits_are_shared_again_when_it_is_back,
    a_redis_that_hangs_costs_a_request_at_most_its_timeout,
    an_instance_starts_without_its_redis_and_uses_it_once_it_answers,
    redis_on_a_unix_socket_holds_the_limits_too,
    a_fast_key_without_its_own_burst_takes_a_second_of_its_rate_at_once,
    a_keys_own_burst_is_all_it_gets_at_once,
    a_crowd_on_one_key_across_two_instances_gets_each_slot_of_its_burst_once,
}

/// 5 a minute: with no burst of its own, 5 at once (a burst never exceeds the rate), then one
/// every 12 s, far longer than any of these tests takes to send its requests.
const FIVE_A_MINUTE: SeedKey = SeedKey {
    name: "Five a minute",
    permissions: "*",
    expires_at: None,
    revoked: false,
    rate_limit: Some(5),
    burst: None,
};

async fn auth(client: &Client, key: &Seeded) -> Response {
    client.get_request("/api/v1/auth").header("X-Api-Key", key.secret()).send().await.unwrap()
}

fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

/// `/readyz` must be 200 whatever Redis does; what it says about the rate limits.
async fn rate_limits_on(client: &Client) -> String {
    let res = client.get("/readyz").await;
    assert_eq!(res.status(), 200, "readiness never fails because of Redis");
    let body: Value = res.json().await.unwrap();
    body["rate_limits"].as_str().unwrap_or_else(|| panic!("no rate_limits in {body}")).to_owned()
}

/// Sends `n` requests for `key`, alternating between the two servers; the statuses in order.
async fn alternate(a: &Client, b: &Client, key: &Seeded, n: usize) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(n);
    for i in 0..n {
        let client = if i % 2 == 0 { a } else { b };
        statuses.push(auth(client, key).await.status().as_u16());
    }
    statuses
}

/// How many times this instance lost Redis (each logged once).
fn outages(verifier: &keyward::verifier::Verifier) -> u64 {
    verifier.shared.as_ref().expect("a Redis URL was set").outages()
}

fn allowed(statuses: &[u16]) -> usize {
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(allowed + refused, statuses.len(), "only 200 and 429 expected: {statuses:?}");
    allowed
}

async fn two_instances_sharing_redis_allow_a_key_exactly_its_limit(backend: Backend) {
    let Some(redis) = RedisServer::start().await else { return };
    let a = spawn_app_with(backend, |s| s.redis_url = Some(redis.url())).await;
    let b = a.another_instance(|s| s.redis_url = Some(redis.url())).await;
    assert_eq!(rate_limits_on(a.client()).await, "redis");
    assert_eq!(rate_limits_on(b.client()).await, "redis");
    let key = seed_key(&a, FIVE_A_MINUTE).await;

    // One allowance, whichever instance is asked: the remaining count goes down across both.
    let mut remaining = Vec::new();
    for i in 0..5 {
        let res = auth(if i % 2 == 0 { a.client() } else { b.client() }, &key).await;
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(header(&res, "ratelimit-limit"), Some("5"));
        remaining.push(header(&res, "ratelimit-remaining").unwrap().to_owned());
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let statuses = alternate(a.client(), b.client(), &key, 15).await;
    assert_eq!(allowed(&statuses), 0, "the pair has used the key's 5: {statuses:?}");
    // Refused exactly as in memory: the next request fits in 12 s.
    let res = auth(b.client(), &key).await;
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "retry-after"), Some("12"));
    assert_eq!(header(&res, "ratelimit-policy"), Some("5;w=60;burst=5"));
    assert_eq!(a.verifier.limiter.len() + b.verifier.limiter.len(), 0, "nothing was counted in memory");
    // Redis holds the key only until its backlog has drained (5 requests of 12 s each).
    let ttl = redis.pttl(&format!("keyward:rate:{}", key.id)).await;
    assert!((55_000..=60_000).contains(&ttl), "{ttl} ms");
    let never_used = seed_key(&a, SeedKey { name: "Idle", ..FIVE_A_MINUTE }).await;
    assert_eq!(redis.pttl(&format!("keyward:rate:{}", never_used.id)).await, -2);

    // Another key has its own allowance.
    let other = seed_key(&a, SeedKey { name: "Other", ..FIVE_A_MINUTE }).await;
    assert_eq!(allowed(&alternate(a.client(), b.client(), &other, 10).await), 5);
    b.stop().await;
}

async fn without_redis_each_instance_enforces_the_full_limit(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.another_instance(|_| {}).await;
    assert_eq!(rate_limits_on(a.client()).await, "memory");
    let key = seed_key(&a, FIVE_A_MINUTE).await;
    // Each instance lets the key make its 5: twice the limit in all.
    let statuses = alternate(a.client(), b.client(), &key, 20).await;
    assert_eq!(allowed(&statuses), 10, "{statuses:?}");
    b.stop().await;
}

async fn a_redis_outage_never_refuses_a_key_and_the_limits_are_shared_again_when_it_is_back(
    backend: Backend,
) {
    let Some(mut redis) = RedisServer::start().await else { return };
    let a = spawn_app_with(backend, |s| s.redis_url = Some(redis.url())).await;
    let b = a.another_instance(|s| s.redis_url = Some(redis.url())).await;
    let busy = seed_key(&a, SeedKey { name: "Busy", ..Default::default() }).await;
    assert_eq!(allowed(&alternate(a.client(), b.client(), &busy, 4).await), 4);

    redis.kill();
    // The default 100 a minute, burst 10: every one of these fits in memory, and none is
    // refused, answered 503 or held up because Redis is gone.
    let started = Instant::now();
    let statuses = alternate(a.client(), b.client(), &busy, 12).await;
    assert_eq!(statuses, [200; 12]);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(rate_limits_on(a.client()).await, "memory (redis unreachable)");
    assert_eq!(rate_limits_on(b.client()).await, "memory (redis unreachable)");
    // Each instance now limits alone, with the full limit.
    let limited = seed_key(&a, FIVE_A_MINUTE).await;
    assert_eq!(allowed(&alternate(a.client(), b.client(), &limited, 20).await), 10);
    // Lost once, logged once, however many requests fell back.
    assert_eq!((outages(&a.verifier), outages(&b.verifier)), (1, 1));

    redis.restart().await;
    // Each instance leaves Redis alone for a second after a failure, then asks again.
    tokio::time::sleep(keyward::verifier::shared_limits::PAUSE + Duration::from_millis(100)).await;
    assert_eq!(rate_limits_on(a.client()).await, "redis");
    assert_eq!(rate_limits_on(b.client()).await, "redis");
    let again = seed_key(&a, SeedKey { name: "Five again", ..FIVE_A_MINUTE }).await;
    assert_eq!(allowed(&alternate(a.client(), b.client(), &again, 20).await), 5, "global again");
    assert_eq!((outages(&a.verifier), outages(&b.verifier)), (1, 1));
    b.stop().await;
}

async fn a_redis_that_hangs_costs_a_request_at_most_its_timeout(backend: Backend) {
    let Some(redis) = RedisServer::start().await else { return };
    let app = spawn_app_with(backend, |s| s.redis_url = Some(redis.url())).await;
    let key = seed_key(&app, SeedKey::default()).await;
    assert_eq!(auth(app.client(), &key).await.status(), 200);

    redis.freeze();
    let started = Instant::now();
    let res = auth(app.client(), &key).await;
    let waited = started.elapsed();
    assert_eq!(res.status(), 200, "decided in memory");
    let timeout = keyward::verifier::shared_limits::CALL_TIMEOUT;
    assert!(waited >= timeout, "Redis was asked first: {waited:?}");
    assert!(waited < timeout * 4, "{waited:?}");
    // The next requests do not wait for it again.
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(auth(app.client(), &key).await.status(), 200);
    }
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
    assert_eq!(rate_limits_on(app.client()).await, "memory (redis unreachable)");
    redis.thaw();
}

async fn an_instance_starts_without_its_redis_and_uses_it_once_it_answers(backend: Backend) {
    let port = free_port();
    let url = keyward::config::RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
    let a = spawn_app_with(backend, |s| s.redis_url = Some(url.clone())).await;
    let b = a.another_instance(|s| s.redis_url = Some(url)).await;
    assert_eq!(rate_limits_on(a.client()).await, "memory (redis unreachable)");
    let key = seed_key(&a, FIVE_A_MINUTE).await;
    assert_eq!(allowed(&alternate(a.client(), b.client(), &key, 20).await), 10, "each instance alone");
    assert_eq!(outages(&a.verifier), 1, "the failed start counts as the one outage");

    let Some(_redis) = RedisServer::start_on(port).await else { return };
    tokio::time::sleep(keyward::verifier::shared_limits::PAUSE + Duration::from_millis(100)).await;
    assert_eq!(rate_limits_on(a.client()).await, "redis");
    assert_eq!(rate_limits_on(b.client()).await, "redis");
    let shared = seed_key(&a, SeedKey { name: "Shared", ..FIVE_A_MINUTE }).await;
    assert_eq!(allowed(&alternate(a.client(), b.client(), &shared, 20).await), 5);
    b.stop().await;
}

async fn redis_on_a_unix_socket_holds_the_limits_too(backend: Backend) {
    let Some(redis) = RedisServer::start().await else { return };
    let a = spawn_app_with(backend, |s| s.redis_url = Some(redis.socket_url())).await;
    let b = a.another_instance(|s| s.redis_url = Some(redis.url())).await;
    assert_eq!(rate_limits_on(a.client()).await, "redis");
    let key = seed_key(&a, FIVE_A_MINUTE).await;
    // One over the socket, one over TCP: the same allowance.
    assert_eq!(allowed(&alternate(a.client(), b.client(), &key, 20).await), 5);
    assert!(redis.pttl(&format!("keyward:rate:{}", key.id)).await > 0);
    b.stop().await;
}

/// Sends `n` requests for `key` at once; how many were let through, and the burst reported.
async fn at_once(app: &TestApp, key: &Seeded, n: usize) -> (usize, Vec<String>) {
    let results = join_all((0..n).map(|_| auth(app.client(), key))).await;
    let limits = results.iter().filter_map(|r| header(r, "ratelimit-limit")).map(str::to_owned).collect();
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    (allowed(&statuses), limits)
}

/// The same test in memory and, where `redis-server` is installed, through Redis.
async fn in_memory_and_in_redis(backend: Backend, test: impl AsyncFn(&TestApp)) {
    test(&spawn_app(backend).await).await;
    if let Some(redis) = RedisServer::start().await {
        let app = spawn_app_with(backend, |s| s.redis_url = Some(redis.url())).await;
        assert_eq!(rate_limits_on(app.client()).await, "redis");
        test(&app).await;
    }
}

async fn a_fast_key_without_its_own_burst_takes_a_second_of_its_rate_at_once(backend: Backend) {
    in_memory_and_in_redis(backend, async |app: &TestApp| {
        let fast = seed_key(app, SeedKey { rate_limit: Some(6000), ..Default::default() }).await;
        let (allowed, limits) = at_once(app, &fast, 100).await;
        assert_eq!(allowed, 100, "6,000 a minute is 100 a second: none of 100 at once is refused");
        assert!(limits.iter().all(|l| l == "100"), "{limits:?}");
    })
    .await;
}

async fn a_keys_own_burst_is_all_it_gets_at_once(backend: Backend) {
    in_memory_and_in_redis(backend, async |app: &TestApp| {
        // 6 a minute refills one every 10 s: nothing comes back while the 10 requests run.
        let three =
            seed_key(app, SeedKey { rate_limit: Some(6), burst: Some(3), ..Default::default() }).await;
        let (allowed, limits) = at_once(app, &three, 10).await;
        assert_eq!(allowed, 3);
        assert!(limits.iter().all(|l| l == "3"), "{limits:?}");
        // Its own burst holds under a fast rate too, where the default would be 100.
        let fast =
            seed_key(app, SeedKey { rate_limit: Some(6000), burst: Some(3), ..Default::default() }).await;
        let res = auth(app.client(), &fast).await;
        assert_eq!(header(&res, "ratelimit-policy"), Some("6000;w=60;burst=3"));
    })
    .await;
}

/// Two hundred requests at once for one key, half through each instance: requests for a key
/// that arrive while its Redis call is out go together in the next call, and each still gets
/// its own answer, as if they had come one at a time. A key of 50 a minute with a burst of 50
/// refills one request every 1.2 s; within that, exactly 50 are allowed and each allowed one
/// is told a different `RateLimit-Remaining`, 49 down to 0.
async fn a_crowd_on_one_key_across_two_instances_gets_each_slot_of_its_burst_once(backend: Backend) {
    let Some(redis) = RedisServer::start().await else { return };
    let a = spawn_app_with(backend, |s| s.redis_url = Some(redis.url())).await;
    let b = a.another_instance(|s| s.redis_url = Some(redis.url())).await;
    let key = seed_key(&a, SeedKey { rate_limit: Some(50), burst: Some(50), ..Default::default() }).await;
    // Warm both instances' connections to Redis, on another key.
    let warm = seed_key(&a, SeedKey { name: "warm", ..Default::default() }).await;
    auth(a.client(), &warm).await;
    auth(b.client(), &warm).await;

    let started = std::time::Instant::now();
    let answers =
        join_all((0..200).map(|i| auth(if i % 2 == 0 { a.client() } else { b.client() }, &key))).await;
    let took = started.elapsed();
    let mut remaining: Vec<u32> = answers
        .iter()
        .filter(|r| r.status() == 200)
        .map(|r| header(r, "ratelimit-remaining").unwrap().parse().unwrap())
        .collect();
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    let allowed = allowed(&statuses);
    remaining.sort_unstable();
    if took < std::time::Duration::from_millis(1200) {
        assert_eq!(allowed, 50, "in {took:?}");
        assert_eq!(remaining, (0..50).collect::<Vec<u32>>(), "each slot once");
    } else {
        // The machine was slow enough for the key to refill: one more per 1.2 s, no more.
        let refills = (took.as_millis() / 1200) as usize;
        assert!((50..=50 + refills).contains(&allowed), "{allowed} in {took:?}");
    }
    b.stop().await;
}
