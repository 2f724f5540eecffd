{{ idstitch.stage_messages('tracks', ['anonymous_id', 'user_id']) }}
