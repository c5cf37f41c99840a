//! The diesel schema: what `diesel print-schema` prints for a freshly migrated SQLite database
//! (settings in `diesel.toml`), kept in the repository with these comments. `scripts/check-schema`
//! (run by CI) migrates a new SQLite file and a new PostgreSQL database and fails when either
//! prints anything else, so a migration and this file cannot drift apart.
//!
//! Only types common to SQLite and PostgreSQL appear here (BigInt, Integer, Text, Timestamp,
//! Date; PostgreSQL's print-schema names the first two Int8 and Int4, the same types), so one
//! query compiles for both backends.

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        workspace_id -> BigInt,
        name -> Text,
        prefix -> Text,
        last4 -> Text,
        key_hash -> Text,
        permissions -> Text,
        expiry_rule -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<BigInt>,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        rate_limit_per_minute -> Nullable<Integer>,
        regenerated_at -> Nullable<Timestamp>,
        search_name -> Text,
        revealed_at -> Nullable<Timestamp>,
        rate_limit_burst -> Nullable<Integer>,
        description -> Text,
        disabled_at -> Nullable<Timestamp>,
        disabled_by -> Nullable<BigInt>,
        previous_key_hash -> Nullable<Text>,
        previous_last4 -> Nullable<Text>,
        previous_expires_at -> Nullable<Timestamp>,
        allowed_ips -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        workspace_id -> Nullable<BigInt>,
        at -> Timestamp,
        actor_id -> Nullable<BigInt>,
        actor -> Text,
        action -> Text,
        key_id -> Nullable<BigInt>,
        key_name -> Nullable<Text>,
        key_masked -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Text,
        key_search_name -> Nullable<Text>,
    }
}

diesel::table! {
    idempotent_requests (token_id, idempotency_key) {
        token_id -> BigInt,
        idempotency_key -> Text,
        fingerprint -> Text,
        status -> Integer,
        sealed_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    instance_settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    invitations (id) {
        id -> BigInt,
        workspace_id -> BigInt,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        invited_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        accepted_by -> Nullable<BigInt>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    key_changes (id) {
        id -> BigInt,
        seq -> BigInt,
    }
}

diesel::table! {
    key_client_addresses (key_id, ip) {
        key_id -> BigInt,
        ip -> Text,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    key_notices (key_id, kind, about) {
        key_id -> BigInt,
        kind -> Text,
        about -> Timestamp,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    key_usage_daily (key_id, day) {
        key_id -> BigInt,
        day -> Date,
        allowed -> BigInt,
        denied -> BigInt,
        denied_revoked -> BigInt,
        denied_expired -> BigInt,
        denied_disabled -> BigInt,
        denied_permission -> BigInt,
        denied_rate_limited -> BigInt,
        denied_ip -> BigInt,
    }
}

diesel::table! {
    management_tokens (id) {
        id -> BigInt,
        workspace_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        last4 -> Text,
        scopes -> Text,
        created_by -> Nullable<BigInt>,
        created_by_label -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    memberships (user_id, workspace_id) {
        user_id -> BigInt,
        workspace_id -> BigInt,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    password_resets (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        requested_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> BigInt,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    user_sessions (id) {
        id -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        confirmed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        totp_secret -> Nullable<Text>,
        totp_enabled_at -> Nullable<Timestamp>,
        totp_last_step -> Nullable<BigInt>,
        password_changed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    verifier_leases (instance_id) {
        instance_id -> Text,
        expires_at -> Timestamp,
        acked_seq -> BigInt,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        attempted_at -> Timestamp,
        response_status -> Nullable<Integer>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        event_id -> BigInt,
        endpoint_id -> BigInt,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_attempt_at -> Nullable<Timestamp>,
        response_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> BigInt,
        workspace_id -> BigInt,
        url -> Text,
        description -> Text,
        events -> Text,
        secret -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        busy_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> BigInt,
        workspace_id -> BigInt,
        message_id -> Text,
        event_type -> Text,
        payload -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    workspaces (id) {
        id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
        two_factor_required_at -> Nullable<Timestamp>,
        key_max_lifetime_days -> Nullable<Integer>,
        key_expiry_required_at -> Nullable<Timestamp>,
        key_unused_revoke_days -> Nullable<Integer>,
        full_access_keys_by -> Text,
        key_leak_action -> Text,
    }
}

diesel::joinable!(api_keys -> workspaces (workspace_id));
diesel::joinable!(audit_events -> workspaces (workspace_id));
diesel::joinable!(idempotent_requests -> management_tokens (token_id));
diesel::joinable!(invitations -> workspaces (workspace_id));
diesel::joinable!(key_client_addresses -> api_keys (key_id));
diesel::joinable!(key_notices -> api_keys (key_id));
diesel::joinable!(key_usage_daily -> api_keys (key_id));
diesel::joinable!(management_tokens -> workspaces (workspace_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> workspaces (workspace_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(user_sessions -> users (user_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> webhook_events (event_id));
diesel::joinable!(webhook_endpoints -> users (created_by));
diesel::joinable!(webhook_endpoints -> workspaces (workspace_id));
diesel::joinable!(webhook_events -> workspaces (workspace_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_events,
    idempotent_requests,
    instance_settings,
    invitations,
    key_changes,
    key_client_addresses,
    key_notices,
    key_usage_daily,
    management_tokens,
    memberships,
    password_resets,
    recovery_codes,
    user_sessions,
    users,
    verifier_leases,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
    workspaces,
);
