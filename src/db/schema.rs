//! Hand-kept diesel schema. Only types common to SQLite and PostgreSQL appear here (BigInt,
//! Integer, Text, Timestamp, Date), so one query compiles for both backends.

diesel::table! {
    instance_settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    workspaces (id) {
        id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
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
    user_sessions (id) {
        id -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

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
    key_usage_daily (key_id, day) {
        key_id -> BigInt,
        day -> Date,
        allowed -> BigInt,
        denied -> BigInt,
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> workspaces (workspace_id));
diesel::joinable!(user_sessions -> users (user_id));
diesel::joinable!(api_keys -> workspaces (workspace_id));
diesel::joinable!(key_usage_daily -> api_keys (key_id));

diesel::allow_tables_to_appear_in_same_query!(
    instance_settings,
    workspaces,
    users,
    memberships,
    user_sessions,
    api_keys,
    audit_events,
    key_usage_daily,
);
