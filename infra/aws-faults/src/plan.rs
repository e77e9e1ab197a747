//! What to inject: the random rates, the forced rules, and the one draw per request.

use crate::classify::Service;
use rand::rngs::StdRng;
use rand::Rng;
use std::fmt;
use std::time::Duration;

/// The failures the proxy can answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// DynamoDB TransactWriteItems only: `TransactionCanceledException` with one
    /// `TransactionConflict` reason; nothing is written.
    Conflict,
    /// The service's throttling error; the request is not forwarded.
    Throttle,
    /// An HTTP 500 without forwarding: the request did not execute.
    ErrorBefore,
    /// Forwarded and executed, then moto's answer is replaced by an HTTP 500: the caller sees a
    /// retryable failure of something that happened.
    ErrorAfter,
    /// Held for [`FaultPlan::timeout_delay`], then forwarded (it executes late) and moto's answer
    /// returned to a client that has usually given up.
    Timeout,
}

impl Fault {
    /// In the order of a random draw.
    pub const ALL: [Fault; 5] = [
        Fault::Conflict,
        Fault::Throttle,
        Fault::ErrorBefore,
        Fault::ErrorAfter,
        Fault::Timeout,
    ];

    /// Whether the request executed while its caller got no answer of it (ErrorAfter, Timeout).
    pub fn loses_answer(self) -> bool {
        matches!(self, Fault::ErrorAfter | Fault::Timeout)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::Conflict => "conflict",
            Fault::Throttle => "throttle",
            Fault::ErrorBefore => "error-before",
            Fault::ErrorAfter => "error-after",
            Fault::Timeout => "timeout",
        })
    }
}

/// Probabilities per request for one service (each 0.0..=1.0, drawn in field order from one
/// uniform number, so their sum should stay at most 1); `conflict` applies to DynamoDB
/// TransactWriteItems only.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// [`Fault::Conflict`] (DynamoDB TransactWriteItems only).
    pub conflict: f64,
    /// [`Fault::Throttle`].
    pub throttle: f64,
    /// [`Fault::ErrorBefore`].
    pub error_before: f64,
    /// [`Fault::ErrorAfter`].
    pub error_after: f64,
    /// [`Fault::Timeout`].
    pub timeout: f64,
}

impl Rates {
    fn get(&self, fault: Fault) -> f64 {
        match fault {
            Fault::Conflict => self.conflict,
            Fault::Throttle => self.throttle,
            Fault::ErrorBefore => self.error_before,
            Fault::ErrorAfter => self.error_after,
            Fault::Timeout => self.timeout,
        }
    }
}

/// The random faults per service; [`FaultPlan::default`] injects none.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// DynamoDB's rates.
    pub dynamodb: Rates,
    /// SES v2's rates.
    pub ses: Rates,
    /// SNS's rates.
    pub sns: Rates,
    /// EventBridge Scheduler's rates.
    pub scheduler: Rates,
    /// How long a [`Fault::Timeout`] holds its request before forwarding it; 4 s by default,
    /// longer than the SDK attempt timeout the functions use (3 s).
    pub timeout_delay: Duration,
}

impl Default for FaultPlan {
    fn default() -> FaultPlan {
        FaultPlan {
            dynamodb: Rates::default(),
            ses: Rates::default(),
            sns: Rates::default(),
            scheduler: Rates::default(),
            timeout_delay: Duration::from_secs(4),
        }
    }
}

impl FaultPlan {
    /// The same rates for the four services.
    pub fn every_service(rates: Rates) -> FaultPlan {
        FaultPlan {
            dynamodb: rates,
            ses: rates,
            sns: rates,
            scheduler: rates,
            ..FaultPlan::default()
        }
    }

    /// The rates of `service` (`None` for [`Service::Other`], never faulted at random).
    pub fn rates(&self, service: Service) -> Option<&Rates> {
        match service {
            Service::DynamoDb => Some(&self.dynamodb),
            Service::Ses => Some(&self.ses),
            Service::Sns => Some(&self.sns),
            Service::Scheduler => Some(&self.scheduler),
            Service::Other => None,
        }
    }
}

/// A deterministic fault: the next `times` requests that match get `fault`, before any random draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The service the request is signed for.
    pub service: Service,
    /// The operation, e.g. `"TransactWriteItems"`, `"SendEmail"`, `"Publish"`, `"CreateSchedule"`;
    /// `None` for any.
    pub operation: Option<String>,
    /// Text the request body must contain; for a [`Fault::Conflict`] it also picks the
    /// conflicting item: the first of `TransactItems` whose JSON contains it.
    pub body_contains: Option<String>,
    /// What those requests get.
    pub fault: Fault,
    /// How many requests the rule applies to.
    pub times: usize,
}

impl Rule {
    /// `fault` for the next request of `service`; narrow it with the other builders.
    pub fn new(service: Service, fault: Fault) -> Rule {
        Rule {
            service,
            operation: None,
            body_contains: None,
            fault,
            times: 1,
        }
    }

    /// Only requests of this operation.
    pub fn operation(mut self, operation: &str) -> Rule {
        self.operation = Some(operation.to_owned());
        self
    }

    /// Only requests whose body contains `text`.
    pub fn body_contains(mut self, text: &str) -> Rule {
        self.body_contains = Some(text.to_owned());
        self
    }

    /// The next `times` matching requests rather than one.
    pub fn times(mut self, times: usize) -> Rule {
        self.times = times;
        self
    }

    fn matches(&self, service: Service, operation: &str, body: &str) -> bool {
        self.times > 0
            && self.service == service
            && self.operation.as_deref().is_none_or(|op| op == operation)
            && self.body_contains.as_deref().is_none_or(|text| body.contains(text))
            && applies(self.fault, service, operation)
    }
}

/// Whether `fault` can be answered to a request of `operation`.
pub(crate) fn applies(fault: Fault, service: Service, operation: &str) -> bool {
    fault != Fault::Conflict || is_transact_write(service, operation)
}

pub(crate) fn is_transact_write(service: Service, operation: &str) -> bool {
    service == Service::DynamoDb && operation == "TransactWriteItems"
}

/// The fault chosen for one request, and the rule that chose it if one did.
pub(crate) struct Choice {
    pub fault: Fault,
    pub body_contains: Option<String>,
}

/// Forced rules first (the first matching one is used up by one), else one uniform draw against
/// the service's rates in [`Fault::ALL`] order. Every request of the four services makes that
/// draw whether or not a rule matched, so forcing a fault does not shift the random sequence.
pub(crate) fn choose(
    rng: &mut StdRng,
    plan: &FaultPlan,
    rules: &mut Vec<Rule>,
    service: Service,
    operation: &str,
    body: &str,
) -> Option<Choice> {
    let drawn = plan.rates(service).map(|_| rng.random::<f64>());
    if let Some(i) = rules.iter().position(|r| r.matches(service, operation, body)) {
        let rule = &mut rules[i];
        rule.times -= 1;
        let choice = Choice {
            fault: rule.fault,
            body_contains: rule.body_contains.clone(),
        };
        if rule.times == 0 {
            rules.remove(i);
        }
        return Some(choice);
    }
    let (rates, mut u) = (plan.rates(service)?, drawn?);
    for fault in Fault::ALL {
        if !applies(fault, service, operation) {
            continue;
        }
        let p = rates.get(fault).clamp(0.0, 1.0);
        if u < p {
            return Some(Choice {
                fault,
                body_contains: None,
            });
        }
        u -= p;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn rules_come_first_and_run_out() {
        let mut rng = StdRng::seed_from_u64(1);
        let plan = FaultPlan::default();
        let mut rules = vec![Rule::new(Service::Sns, Fault::Throttle).operation("Publish").times(2)];
        let pick = |rng: &mut StdRng, rules: &mut Vec<Rule>, op| {
            choose(rng, &plan, rules, Service::Sns, op, "").map(|c| c.fault)
        };
        assert_eq!(pick(&mut rng, &mut rules, "CreateTopic"), None);
        assert_eq!(pick(&mut rng, &mut rules, "Publish"), Some(Fault::Throttle));
        assert_eq!(pick(&mut rng, &mut rules, "Publish"), Some(Fault::Throttle));
        assert_eq!(pick(&mut rng, &mut rules, "Publish"), None);
        assert!(rules.is_empty());
    }

    #[test]
    fn conflict_only_for_transact_write_items() {
        let mut rng = StdRng::seed_from_u64(1);
        let plan = FaultPlan {
            dynamodb: Rates {
                conflict: 1.0,
                ..Rates::default()
            },
            ..FaultPlan::default()
        };
        let mut rules = Vec::new();
        for _ in 0..20 {
            assert!(choose(&mut rng, &plan, &mut rules, Service::DynamoDb, "PutItem", "").is_none());
            let twi = choose(&mut rng, &plan, &mut rules, Service::DynamoDb, "TransactWriteItems", "");
            assert_eq!(twi.map(|c| c.fault), Some(Fault::Conflict));
        }
    }

    #[test]
    fn rates_come_out_near_their_share() {
        let mut rng = StdRng::seed_from_u64(7);
        let plan = FaultPlan::every_service(Rates {
            throttle: 0.2,
            error_after: 0.1,
            ..Rates::default()
        });
        let mut counts = std::collections::HashMap::new();
        for _ in 0..10_000 {
            let fault = choose(&mut rng, &plan, &mut Vec::new(), Service::Ses, "SendEmail", "").map(|c| c.fault);
            *counts.entry(fault).or_insert(0) += 1;
        }
        assert!((1800..2200).contains(&counts[&Some(Fault::Throttle)]), "{counts:?}");
        assert!((850..1150).contains(&counts[&Some(Fault::ErrorAfter)]), "{counts:?}");
        assert!(!counts.contains_key(&Some(Fault::Timeout)));
    }
}
