{{ config(enabled=var('idstitch__aliases_enabled')) }}

{{ idstitch.stage_messages('aliases', {'previous_id': false, 'user_id': false}) }}
