//! One schema for both backends: only portable SQL types (BigInt, Text, Bool, Timestamp).
//! Keep in step with migrations/sqlite and migrations/postgres; the schema test in the
//! integration suite selects every column of every table on each backend.

diesel::table! {
    cache_epoch (id) {
        id -> BigInt,
        epoch -> BigInt,
    }
}

diesel::table! {
    app_settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    agencies (id) {
        id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    tenants (id) {
        id -> BigInt,
        agency_id -> BigInt,
        name -> Text,
        slug -> Text,
        time_zone -> Text,
        wx_appid -> Nullable<Text>,
        wx_original_id -> Nullable<Text>,
        wx_token_enc -> Nullable<Text>,
        wx_aes_key_enc -> Nullable<Text>,
        wx_prev_aes_key_enc -> Nullable<Text>,
        wx_app_secret_enc -> Nullable<Text>,
        wx_message_mode -> Text,
        wx_account_kind -> Text,
        wx_api_base -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        wx_verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    stores (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        address -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        locale -> Nullable<Text>,
        created_at -> Timestamp,
        password_changed_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    memberships (id) {
        id -> BigInt,
        user_id -> BigInt,
        agency_id -> BigInt,
        tenant_id -> Nullable<BigInt>,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    membership_stores (membership_id, store_id) {
        membership_id -> BigInt,
        store_id -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        ip -> Text,
        user_agent -> Text,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        token_prefix -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invitations (id) {
        id -> BigInt,
        agency_id -> BigInt,
        tenant_id -> Nullable<BigInt>,
        email -> Text,
        role -> Text,
        store_ids -> Text,
        token_hash -> Text,
        invited_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        throttle_key -> Text,
        at -> Timestamp,
    }
}

diesel::joinable!(tenants -> agencies (agency_id));
diesel::joinable!(stores -> tenants (tenant_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> tenants (tenant_id));
diesel::joinable!(membership_stores -> memberships (membership_id));

diesel::table! {
    changes (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        subject -> Text,
        subject_id -> BigInt,
        user_name -> Text,
        fields -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    scheduled_tasks (name) {
        name -> Text,
        last_started_at -> Nullable<Timestamp>,
        last_finished_at -> Nullable<Timestamp>,
        last_outcome -> Nullable<Text>,
        runs -> BigInt,
    }
}

diesel::table! {
    wx_tokens (tenant_id) {
        tenant_id -> BigInt,
        token_enc -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        lease_until -> Nullable<Timestamp>,
        refreshes -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    broadcast_settings (tenant_id) {
        tenant_id -> BigInt,
        quota_period -> Nullable<Text>,
        quota_count -> Nullable<BigInt>,
        follower_cap -> Nullable<BigInt>,
        needs_approval -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    broadcasts (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        title -> Text,
        message -> Text,
        audience -> Text,
        status -> Text,
        scheduled_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        approved_by -> Nullable<Text>,
        approved_at -> Nullable<Timestamp>,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        recipients -> Nullable<BigInt>,
        left_out -> BigInt,
        total_count -> BigInt,
        filter_count -> BigInt,
        sent_count -> BigInt,
        error_count -> BigInt,
        failure -> Nullable<Text>,
        at_cap -> BigInt,
        recurrence -> Nullable<Text>,
        next_at -> Nullable<Timestamp>,
        parent_id -> Nullable<BigInt>,
        coupons_issued -> BigInt,
        no_coupon -> BigInt,
        email -> Bool,
        cap_month -> Nullable<Text>,
    }
}

diesel::table! {
    broadcast_emails (broadcast_id, follower_id) {
        broadcast_id -> BigInt,
        follower_id -> BigInt,
        tenant_id -> BigInt,
        address -> Text,
        state -> Text,
        error -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    broadcast_slots (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        period -> Text,
        slot -> BigInt,
        broadcast_id -> Nullable<BigInt>,
        at -> Timestamp,
        note -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    broadcast_chunks (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        broadcast_id -> BigInt,
        seq -> BigInt,
        target -> Text,
        tag_id -> Nullable<BigInt>,
        openids -> Nullable<Text>,
        recipients -> BigInt,
        clientmsgid -> Text,
        state -> Text,
        msg_id -> Nullable<BigInt>,
        wx_status -> Nullable<Text>,
        total_count -> Nullable<BigInt>,
        filter_count -> Nullable<BigInt>,
        sent_count -> Nullable<BigInt>,
        error_count -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    pay_settings (tenant_id) {
        tenant_id -> BigInt,
        mch_id -> Text,
        apiv2_key_enc -> Nullable<Text>,
        apiv3_key_enc -> Nullable<Text>,
        platform_keys -> Text,
        updated_at -> Timestamp,
        merchant_serial -> Nullable<Text>,
        merchant_key_enc -> Nullable<Text>,
    }
}

diesel::table! {
    payments (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        out_trade_no -> Text,
        transaction_id -> Nullable<Text>,
        openid -> Nullable<Text>,
        follower_id -> Nullable<BigInt>,
        total_fen -> BigInt,
        payer_fen -> BigInt,
        discount_fen -> BigInt,
        refunded_fen -> BigInt,
        state -> Text,
        trade_type -> Nullable<Text>,
        bank_type -> Nullable<Text>,
        attach -> Nullable<Text>,
        coupon_id -> Nullable<BigInt>,
        paid_at -> Nullable<Timestamp>,
        source -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refunds (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        payment_id -> BigInt,
        out_refund_no -> Text,
        refund_id -> Nullable<Text>,
        amount_fen -> BigInt,
        status -> Text,
        succeeded_at -> Nullable<Timestamp>,
        source -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    pay_notifications (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        notify_key -> Text,
        kind -> Text,
        version -> Text,
        body -> Text,
        received_at -> Timestamp,
    }
}

diesel::joinable!(refunds -> payments (payment_id));

diesel::table! {
    reconcile_runs (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        bill_date -> Date,
        bill_kind -> Text,
        source -> Text,
        bill_lines -> BigInt,
        counts -> Text,
        summary_ok -> Bool,
        created_by -> Text,
        created_at -> Timestamp,
        totals -> Nullable<Text>,
    }
}

diesel::table! {
    reconcile_exceptions (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        run_id -> BigInt,
        bill_date -> Date,
        category -> Text,
        kind -> Text,
        out_trade_no -> Text,
        out_refund_no -> Nullable<Text>,
        bill_side -> Nullable<Text>,
        our_side -> Nullable<Text>,
        state -> Text,
        reason -> Nullable<Text>,
        resolved_by -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    bill_files (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        source -> Text,
        bill_date -> Nullable<Date>,
        size_bytes -> BigInt,
        sha1 -> Nullable<Text>,
        state -> Text,
        run_id -> Nullable<BigInt>,
        error -> Nullable<Text>,
        job_id -> Nullable<BigInt>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    bill_file_chunks (file_id, seq) {
        file_id -> BigInt,
        seq -> BigInt,
        data -> Binary,
    }
}

diesel::joinable!(bill_file_chunks -> bill_files (file_id));

diesel::table! {
    stats_daily (tenant_id, day, metric, dim) {
        tenant_id -> BigInt,
        day -> Date,
        metric -> Text,
        dim -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    stats_rolled (tenant_id) {
        tenant_id -> BigInt,
        day -> Date,
        rolled_at -> Timestamp,
        last_push_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    stats_summary (tenant_id, day) {
        tenant_id -> BigInt,
        day -> Date,
        follows -> BigInt,
        unfollows -> BigInt,
        messages -> BigInt,
        redeemed -> BigInt,
        payments_fen -> BigInt,
        followers -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    stats_daily,
    stats_summary,
    stats_rolled,
    bill_files,
    bill_file_chunks,
    reconcile_runs,
    reconcile_exceptions,
    pay_settings,
    payments,
    refunds,
    pay_notifications,
    broadcast_emails,
    app_settings,
    scheduled_tasks,
    wx_tokens,
    broadcast_settings,
    broadcasts,
    broadcast_slots,
    broadcast_chunks,
    agencies,
    tenants,
    stores,
    users,
    memberships,
    membership_stores,
    sessions,
    api_tokens,
    invitations,
    password_resets,
    login_failures,
    followers,
    messages,
    reply_rules,
    tags,
    follower_tags,
    follower_notes,
    jobs,
    attributes,
    follower_attributes,
    segments,
    follower_imports,
    qr_codes,
    menus,
    follower_counts,
    campaigns,
    changes,
    coupons,
    coupon_holdings,
    coupon_events,
    loyalty_programs,
    points_ledger,
    stamp_cards,
    stamp_progress,
    stamp_events,
);

diesel::table! {
    followers (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        openid -> Text,
        unionid -> Nullable<Text>,
        subscribed -> Bool,
        subscribed_at -> Nullable<Timestamp>,
        unsubscribed_at -> Nullable<Timestamp>,
        subscribe_count -> BigInt,
        subscribe_scene -> Nullable<Text>,
        qr_scene -> Nullable<Text>,
        last_interaction_at -> Nullable<Timestamp>,
        name -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        birthday -> Nullable<Date>,
        remark -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        email_consent_at -> Nullable<Timestamp>,
        email_consent_source -> Nullable<Text>,
        email_unsubscribed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        follower_id -> Nullable<BigInt>,
        direction -> Text,
        msg_type -> Text,
        event -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        content -> Nullable<Text>,
        body -> Text,
        reply -> Nullable<Text>,
        sent_at -> Timestamp,
        received_at -> Timestamp,
    }
}

diesel::joinable!(followers -> tenants (tenant_id));
diesel::joinable!(messages -> followers (follower_id));

diesel::table! {
    reply_rules (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        trigger_kind -> Text,
        trigger_value -> Text,
        reply_kind -> Text,
        reply_body -> Text,
        priority -> BigInt,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        active_window -> Nullable<Text>,
        campaign_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    jobs (id) {
        id -> BigInt,
        tenant_id -> Nullable<BigInt>,
        kind -> Text,
        payload -> Text,
        state -> Text,
        attempts -> BigInt,
        max_attempts -> BigInt,
        run_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        progress_done -> BigInt,
        progress_total -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        result -> Nullable<Text>,
        failure -> Nullable<Text>,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        wx_tag_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    follower_tags (tag_id, follower_id) {
        tenant_id -> BigInt,
        tag_id -> BigInt,
        follower_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    follower_notes (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        follower_id -> BigInt,
        author_id -> Nullable<BigInt>,
        author_name -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    attributes (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        key -> Text,
        label -> Text,
        kind -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    follower_attributes (follower_id, attribute_id) {
        tenant_id -> BigInt,
        follower_id -> BigInt,
        attribute_id -> BigInt,
        text_value -> Nullable<Text>,
        num_value -> Nullable<Double>,
    }
}

diesel::table! {
    segments (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        filter -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    follower_imports (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        author_name -> Text,
        file_name -> Text,
        body -> Text,
        status -> Text,
        total_rows -> BigInt,
        new_rows -> BigInt,
        error_rows -> BigInt,
        errors -> Text,
        job_id -> Nullable<BigInt>,
        message -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    qr_codes (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        scene -> Text,
        label -> Text,
        permanent -> Bool,
        ticket -> Text,
        url -> Text,
        expires_at -> Nullable<Timestamp>,
        scans -> BigInt,
        follows -> BigInt,
        tag_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        campaign_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    menus (tenant_id) {
        tenant_id -> BigInt,
        body -> Text,
        published_at -> Nullable<Timestamp>,
        publish_error -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    follower_counts (tenant_id, slot) {
        tenant_id -> BigInt,
        slot -> Integer,
        total -> BigInt,
        subscribed -> BigInt,
    }
}

diesel::table! {
    campaigns (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        benefit -> Text,
        min_spend_fen -> BigInt,
        validity -> Text,
        total_supply -> Nullable<BigInt>,
        per_follower_limit -> Nullable<BigInt>,
        store_ids -> Nullable<Text>,
        status -> Text,
        terms -> Text,
        code_prefix -> Text,
        issued_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        imported_codes -> BigInt,
        accepts_short_codes -> Bool,
    }
}

diesel::table! {
    coupons (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        campaign_id -> BigInt,
        code -> Text,
        follower_id -> Nullable<BigInt>,
        status -> Text,
        valid_from -> Timestamp,
        valid_to -> Timestamp,
        channel -> Text,
        issued_by -> Text,
        issued_at -> Timestamp,
        redeemed_at -> Nullable<Timestamp>,
        redeemed_store_id -> Nullable<BigInt>,
        redeemed_by -> Nullable<BigInt>,
        redeemed_by_name -> Nullable<Text>,
        order_ref -> Nullable<Text>,
        amount_fen -> Nullable<BigInt>,
        discount_fen -> Nullable<BigInt>,
        opened_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    coupon_holdings (campaign_id, follower_id) {
        campaign_id -> BigInt,
        follower_id -> BigInt,
        held -> BigInt,
    }
}

diesel::table! {
    coupon_events (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        coupon_id -> BigInt,
        action -> Text,
        user_id -> Nullable<BigInt>,
        user_name -> Text,
        store_id -> Nullable<BigInt>,
        device -> Text,
        reason -> Nullable<Text>,
        idempotency_key -> Nullable<Text>,
        result -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    loyalty_programs (tenant_id) {
        tenant_id -> BigInt,
        subscribe_points -> BigInt,
        checkin_keyword -> Text,
        checkin_points -> BigInt,
        checkin_reply -> Text,
        checkin_again_reply -> Text,
        points_per_yuan -> BigInt,
        expiry_days -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    points_ledger (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        follower_id -> BigInt,
        kind -> Text,
        points -> BigInt,
        remaining -> BigInt,
        expires_at -> Nullable<Timestamp>,
        source -> Text,
        source_key -> Nullable<Text>,
        reason -> Text,
        user_id -> Nullable<BigInt>,
        user_name -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    stamp_cards (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        stamps_required -> BigInt,
        reward_campaign_id -> BigInt,
        stamp_on_checkin -> Bool,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    stamp_progress (card_id, follower_id) {
        card_id -> BigInt,
        follower_id -> BigInt,
        stamps -> BigInt,
    }
}

diesel::table! {
    stamp_events (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        card_id -> BigInt,
        follower_id -> BigInt,
        stamps -> BigInt,
        source -> Text,
        source_key -> Nullable<Text>,
        coupon_id -> Nullable<BigInt>,
        user_id -> Nullable<BigInt>,
        user_name -> Text,
        store_id -> Nullable<BigInt>,
        at -> Timestamp,
    }
}
