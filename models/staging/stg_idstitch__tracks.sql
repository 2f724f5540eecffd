{{ idstitch.stage_messages('tracks', {'anonymous_id': false, 'user_id': false}) }}
