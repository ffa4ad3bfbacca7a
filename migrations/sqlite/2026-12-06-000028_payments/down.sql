DROP TABLE pay_notifications;
DROP TABLE refunds;
DROP TABLE payments;
DROP TABLE pay_settings;
