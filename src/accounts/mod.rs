//! People and workspaces: users, their passwords, memberships with roles, sign-in sessions.

pub mod email;
pub mod invitations;
pub mod members;
pub mod password;
pub mod password_reset;
pub mod password_work;
pub mod role;
pub mod sessions;
pub mod setup_code;
pub mod store;
pub mod throttle;
pub mod two_factor;
pub mod workspace_name;

pub use email::Email;
pub use password::{Password, PasswordError};
pub use role::{Capability, Role};
pub use setup_code::SetupCode;
pub use workspace_name::{WorkspaceName, WorkspaceNameError};
