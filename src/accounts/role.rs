//! Roles within a workspace and what each may do. Handlers ask for a [`Capability`];
//! only this file knows which role grants it.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Admin,
    Owner,
}

/// Something a member may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// See the key table and the audit log.
    ViewKeys,
    /// Create, regenerate, revoke and delete keys.
    ManageKeys,
    /// Add, change and remove members.
    ManageMembers,
    /// Set the workspace's key policies (*Settings → Policies*).
    ManagePolicies,
    /// Add, change and remove webhook endpoints, and see their deliveries (*Settings → Webhooks*).
    ManageWebhooks,
    /// Make and revoke management tokens (*Settings → Management tokens*).
    ManageTokens,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Viewer];

    pub fn can(self, cap: Capability) -> bool {
        match cap {
            Capability::ViewKeys => true,
            Capability::ManageKeys => self >= Role::Admin,
            Capability::ManageMembers
            | Capability::ManagePolicies
            | Capability::ManageWebhooks
            | Capability::ManageTokens => self == Role::Owner,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Viewer => "Viewer",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Role::Owner => "Everything, including members and roles.",
            Role::Admin => "Create, regenerate, revoke and delete API keys.",
            Role::Viewer => "Read-only: sees keys (masked) and the audit log.",
        }
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_the_role_table() {
        assert!(Role::Viewer.can(Capability::ViewKeys));
        assert!(!Role::Viewer.can(Capability::ManageKeys));
        assert!(Role::Admin.can(Capability::ManageKeys));
        assert!(!Role::Admin.can(Capability::ManageMembers));
        assert!(Role::Owner.can(Capability::ManageMembers));
        assert!(Role::Owner.can(Capability::ManagePolicies));
        assert!(!Role::Admin.can(Capability::ManagePolicies));
        assert!(Role::Owner.can(Capability::ManageWebhooks));
        assert!(!Role::Admin.can(Capability::ManageWebhooks));
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
    }
}
