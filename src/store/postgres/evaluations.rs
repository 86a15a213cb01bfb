//! Reads of evaluation rows through the read pool (committed data only).

use super::{PgStore, error, pool_error};
use crate::store::StoreError;
use crate::store::codec::decode;
use crate::store::evaluations::{EvaluationKey, EvaluationQuery, EvaluationRecord, SUMMARY_HOUR};

/// The (environment, feature, hour) of a row whose first three columns are those.
pub fn evaluation_key(row: &tokio_postgres::Row) -> Result<EvaluationKey, StoreError> {
    let column = |index: usize| {
        let value: i64 = row.get(index);
        u32::try_from(value)
            .map_err(|_| StoreError::Corrupt(format!("an evaluation key holds {value}")))
    };
    Ok((column(0)?, column(1)?, column(2)?))
}

impl PgStore {
    /// The rows `query` asks for, in key order.
    pub async fn evaluations(
        &self,
        query: EvaluationQuery,
    ) -> Result<Vec<(EvaluationKey, EvaluationRecord)>, StoreError> {
        let client = self.pool().get().await.map_err(pool_error)?;
        let (first, last) = query
            .feature_id
            .map_or((0, i64::from(u32::MAX)), |f| (i64::from(f), i64::from(f)));
        let rows = client
            .query(
                "SELECT environment_id, feature_id, hour, value FROM burgee_evaluations \
                 WHERE environment_id = $1 AND feature_id BETWEEN $2 AND $3 \
                 AND hour BETWEEN $4 AND $5 ORDER BY feature_id, hour",
                &[
                    &i64::from(query.environment_id),
                    &first,
                    &last,
                    &i64::from(query.from_hour),
                    &i64::from(query.to_hour),
                ],
            )
            .await
            .map_err(error)?;
        rows.iter()
            .map(|row| Ok((evaluation_key(row)?, decode(row.get::<_, &[u8]>(3))?)))
            .collect()
    }

    /// Up to `limit` keys the prune may remove: hours past retention first, then the rows
    /// of features or environments `alive` no longer knows.
    pub async fn expired_evaluations(
        &self,
        before_hour: u32,
        alive: &(dyn Fn(u32, u32) -> bool + Sync),
        limit: usize,
    ) -> Result<Vec<EvaluationKey>, StoreError> {
        let client = self.pool().get().await.map_err(pool_error)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let old = client
            .query(
                "SELECT environment_id, feature_id, hour FROM burgee_evaluations \
                 WHERE hour < $1 LIMIT $2",
                &[&i64::from(before_hour), &limit],
            )
            .await
            .map_err(error)?;
        let mut keys: Vec<EvaluationKey> =
            old.iter().map(evaluation_key).collect::<Result<_, _>>()?;
        if keys.len() as i64 >= limit {
            return Ok(keys);
        }
        // Every feature with rows has a summary row, removed last (it has the highest hour),
        // so the summaries list every pair that has rows.
        let pairs = client
            .query(
                "SELECT environment_id, feature_id, hour FROM burgee_evaluations WHERE hour = $1",
                &[&i64::from(SUMMARY_HOUR)],
            )
            .await
            .map_err(error)?;
        for pair in &pairs {
            let (environment, feature, _) = evaluation_key(pair)?;
            if alive(environment, feature) {
                continue;
            }
            let rows = client
                .query(
                    "SELECT environment_id, feature_id, hour FROM burgee_evaluations \
                     WHERE environment_id = $1 AND feature_id = $2 ORDER BY hour LIMIT $3",
                    &[
                        &i64::from(environment),
                        &i64::from(feature),
                        &(limit - keys.len() as i64),
                    ],
                )
                .await
                .map_err(error)?;
            for row in &rows {
                keys.push(evaluation_key(row)?);
            }
            if keys.len() as i64 >= limit {
                break;
            }
        }
        Ok(keys)
    }
}
