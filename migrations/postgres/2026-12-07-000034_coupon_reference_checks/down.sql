DROP TRIGGER coupons_owner_fixed ON coupons;
DROP FUNCTION coupons_owner_fixed();
DROP TRIGGER coupons_references ON coupons;
DROP FUNCTION coupons_check_references();
ALTER TABLE coupons
    ADD CONSTRAINT coupons_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id),
    ADD CONSTRAINT coupons_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns(id),
    ADD CONSTRAINT coupons_follower_id_fkey FOREIGN KEY (follower_id) REFERENCES followers(id);
