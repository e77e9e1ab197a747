//! What the proxy saw and injected.

use crate::classify::Service;
use crate::plan::Fault;
use std::collections::BTreeMap;
use std::fmt;

/// Counts per (service, operation): requests seen (moto's own `/moto-api/` excluded) and faults
/// injected, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    seed: u64,
    requests: BTreeMap<(Service, String), u64>,
    faults: BTreeMap<(Service, String, Fault), u64>,
}

impl FaultStats {
    pub(crate) fn new(seed: u64) -> FaultStats {
        FaultStats {
            seed,
            ..FaultStats::default()
        }
    }

    pub(crate) fn record_request(&mut self, service: Service, operation: &str) {
        *self.requests.entry((service, operation.to_owned())).or_default() += 1;
    }

    pub(crate) fn record_fault(&mut self, service: Service, operation: &str, fault: Fault) {
        *self.faults.entry((service, operation.to_owned(), fault)).or_default() += 1;
    }

    /// The proxy's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Requests seen of `operation` of `service`, faulted or not.
    pub fn requests(&self, service: Service, operation: &str) -> u64 {
        self.requests
            .get(&(service, operation.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Requests of `operation` of `service` that got `fault`.
    pub fn faults(&self, service: Service, operation: &str, fault: Fault) -> u64 {
        self.faults
            .get(&(service, operation.to_owned(), fault))
            .copied()
            .unwrap_or(0)
    }

    /// Requests of `operation` of `service` that executed but whose answer the caller never got
    /// ([`Fault::ErrorAfter`], and [`Fault::Timeout`], which executes late): an upper bound on
    /// how many of them the caller may have repeated, e.g. SES SendEmail or SNS Publish calls
    /// delivered twice.
    pub fn answers_lost(&self, service: Service, operation: &str) -> u64 {
        self.faults(service, operation, Fault::ErrorAfter) + self.faults(service, operation, Fault::Timeout)
    }

    /// All faults of kind `fault`, over every service and operation.
    pub fn total(&self, fault: Fault) -> u64 {
        self.faults
            .iter()
            .filter(|((_, _, f), _)| *f == fault)
            .map(|(_, n)| n)
            .sum()
    }

    /// All faults injected.
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }

    /// All requests seen.
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// The (service, operation, requests seen) rows, in order.
    pub fn operations(&self) -> impl Iterator<Item = (Service, &str, u64)> + '_ {
        self.requests.iter().map(|((s, op), n)| (*s, op.as_str(), *n))
    }
}

impl fmt::Display for FaultStats {
    /// One line per operation; only the faults that happened are named.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lost: u64 = self.total(Fault::ErrorAfter) + self.total(Fault::Timeout);
        writeln!(
            f,
            "fault proxy seed {}: {} requests, {} faults injected, {} executed with their answer lost",
            self.seed,
            self.total_requests(),
            self.total_faults(),
            lost
        )?;
        for (service, operation, requests) in self.operations() {
            write!(f, "  {:<10} {:<28} {requests:>6} req", service.to_string(), operation)?;
            for fault in Fault::ALL {
                let n = self.faults(service, operation, fault);
                if n > 0 {
                    write!(f, "  {fault} {n}")?;
                }
            }
            let lost = self.answers_lost(service, operation);
            if lost > 0 {
                write!(f, "  (answer lost {lost})")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_what_happened() {
        let mut stats = FaultStats::new(42);
        for _ in 0..3 {
            stats.record_request(Service::Ses, "SendEmail");
        }
        stats.record_request(Service::DynamoDb, "GetItem");
        stats.record_fault(Service::Ses, "SendEmail", Fault::ErrorAfter);
        stats.record_fault(Service::Ses, "SendEmail", Fault::Timeout);
        stats.record_fault(Service::Ses, "SendEmail", Fault::Throttle);
        assert_eq!(stats.answers_lost(Service::Ses, "SendEmail"), 2);
        assert_eq!(stats.total_faults(), 3);
        let text = stats.to_string();
        assert!(text.starts_with("fault proxy seed 42: 4 requests, 3 faults injected, 2 executed"));
        assert!(
            text.contains("throttle 1  error-after 1  timeout 1  (answer lost 2)"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 3);
    }
}
