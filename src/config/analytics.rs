//! How evaluation counts are kept: how often each node writes what it counted, and how long
//! the hourly counts are kept.

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::parse_duration;

/// `burgee serve` analytics options as given on the command line or in the environment.
#[derive(Debug, Clone, Args, Default)]
pub struct AnalyticsArgs {
    /// How often this node writes the evaluation counts it gathered (default 60s).
    #[arg(long, env = "BURGEE_ANALYTICS_FLUSH_INTERVAL", value_parser = parse_duration)]
    pub analytics_flush_interval: Option<Duration>,
    /// Hourly evaluation counts older than this are removed (default 30d, at least 1h);
    /// each feature's totals and last evaluation are kept for as long as the feature.
    #[arg(long, env = "BURGEE_ANALYTICS_RETENTION", value_parser = parse_duration)]
    pub analytics_retention: Option<Duration>,
}

/// The analytics settings of the TOML file.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileAnalytics {
    pub analytics_flush_interval: Option<Duration>,
    pub analytics_retention: Option<Duration>,
}

/// The effective analytics settings.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyticsSettings {
    pub flush_interval: Duration,
    pub retention: Duration,
}

impl AnalyticsSettings {
    pub fn resolve(args: &AnalyticsArgs, file: FileAnalytics) -> Self {
        Self {
            flush_interval: args
                .analytics_flush_interval
                .or(file.analytics_flush_interval)
                .unwrap_or(Duration::from_secs(60))
                .max(Duration::from_secs(1)),
            retention: args
                .analytics_retention
                .or(file.analytics_retention)
                .unwrap_or(Duration::from_secs(30 * 86_400))
                .max(Duration::from_secs(3600)),
        }
    }
}
