//! The active expiry cycle: each core walks its own databases for keys past their TTL,
//! a bounded number of entries per cycle, so keys nobody reads again still go away without
//! a cycle ever holding the core for long. Lazy expiry on access lives in `Db::get_live`.

use super::Shard;

/// Examines at most `budget` table buckets across the shard's databases, removing expired
/// entries; returns how many it removed. Resumes where the previous cycle stopped.
pub fn active_cycle(shard: &mut Shard, now_ms: u64, budget: usize) -> usize {
    let mut budget_left = budget;
    let mut removed = 0;
    let mut expired: Vec<super::key::Key> = Vec::new();
    for index in 0..shard.dbs.len() {
        if budget_left == 0 {
            break;
        }
        if shard.dbs[index].volatile_len() == 0 {
            shard.expire_cursor[index] = None;
            continue;
        }
        let start = shard.expire_cursor[index].unwrap_or_default();
        let db = &shard.dbs[index];
        let (mut seen, mut sampled, mut ttl_sum_ms) = (0usize, 0u64, 0u64);
        let next = db.walk(start, budget_left, true, |entry| {
            seen += 1;
            if entry.expire_at_ms == 0 {
                return true;
            }
            if entry.expire_at_ms <= now_ms {
                expired.push(entry.key.clone());
            } else {
                sampled += 1;
                ttl_sum_ms += entry.expire_at_ms - now_ms;
            }
            true
        });
        let stale = expired.len() as u64;
        shard.note_sample(index, sampled, ttl_sum_ms, stale);
        budget_left = budget_left.saturating_sub(seen.max(1));
        shard.expire_cursor[index] = next;
        for key in expired.drain(..) {
            if shard.dbs[index].remove(&key).is_some() {
                removed += 1;
                shard.watches.touch(index, &key, false);
                shard.notify(index, super::notify::class::EXPIRED, "expired", &key);
                if !shard.tracking.is_empty() {
                    // No client caused this change: NOLOOP spares nobody.
                    shard.tracking.caller = Default::default();
                    shard.tracking.invalidate(&key);
                }
                if shard.journal.recording() {
                    super::effect::del(shard.journal.ops(), index, &key);
                }
            }
        }
    }
    shard.stats.expired_keys += removed as u64;
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::value::Value;

    #[test]
    fn removes_only_expired_keys_within_budget() {
        let mut shard = Shard::new(1);
        for i in 0..1000 {
            let expire = if i % 2 == 0 { 10 } else { 0 };
            shard.dbs[3].insert(
                format!("k{i}").as_bytes(),
                Value::Str(b"v".to_vec()),
                expire,
                0,
            );
        }
        shard.dbs[3].insert(b"later", Value::Str(b"v".to_vec()), 1_000_000, 0);
        let mut total = 0;
        for _ in 0..1000 {
            total += active_cycle(&mut shard, 100, 50);
        }
        assert_eq!(total, 500);
        assert_eq!(shard.dbs[3].len(), 501);
        assert_eq!(shard.dbs[3].volatile_len(), 1);
        assert_eq!(shard.stats.expired_keys, 500);
    }
}
