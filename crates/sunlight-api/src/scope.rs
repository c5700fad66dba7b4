//! [`Scope`]: which officials a token may see. An official is visible when the
//! token's `regions` hold `"*"` or the official's region, or its `org_units` hold the
//! official's org unit. Anything outside is answered as unknown (404), never 403.

use crate::auth::Claims;

/// The `regions` entry that makes every official visible.
pub const ALL_REGIONS: &str = "*";

/// The visibility granted by a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    all: bool,
    regions: Vec<String>,
    org_units: Vec<String>,
}

impl Scope {
    /// The scope of a token's claims.
    pub fn of(claims: &Claims) -> Scope {
        Scope {
            all: claims.regions.iter().any(|r| r == ALL_REGIONS),
            regions: claims.regions.clone(),
            org_units: claims.org_units.clone(),
        }
    }

    /// Whether an official of `region` and `org_unit` is visible. Empty strings (an
    /// official whose region or unit is unknown) match nothing but `"*"`.
    pub fn permits(&self, region: &str, org_unit: &str) -> bool {
        self.all
            || (!region.is_empty() && self.regions.iter().any(|r| r == region))
            || (!org_unit.is_empty() && self.org_units.iter().any(|u| u == org_unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(regions: &[&str], org_units: &[&str]) -> Scope {
        Scope::of(&Claims {
            sub: "u".into(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            org_units: org_units.iter().map(|s| s.to_string()).collect(),
            sensitive: false,
            roles: Vec::new(),
        })
    }

    #[test]
    fn region_org_unit_or_everything() {
        assert!(scope(&["north"], &[]).permits("north", "finance"));
        assert!(!scope(&["north"], &[]).permits("south", "finance"));
        assert!(scope(&[], &["finance"]).permits("south", "finance"));
        assert!(!scope(&[], &["finance"]).permits("south", "audit"));
        assert!(scope(&["*"], &[]).permits("anywhere", "anything"));
        assert!(scope(&["*"], &[]).permits("", ""));
        assert!(!scope(&[], &[]).permits("north", "finance"));
        assert!(!scope(&[""], &[""]).permits("", ""));
    }
}
