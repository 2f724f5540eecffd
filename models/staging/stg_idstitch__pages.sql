{{ config(enabled=var('idstitch__pages_enabled')) }}

{{ idstitch.stage_messages('pages', {'anonymous_id': false, 'user_id': false}) }}
