
use builtin;
use str;

set edit:completion:arg-completer[segment-planhat] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'segment-planhat'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'segment-planhat'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand send 'Translate messages and send them to Planhat (or print them with --dry-run)'
            cand validate 'Read and map messages without sending; report what would happen'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'segment-planhat;send'= {
            cand --tenant-token 'Planhat tenant token (needed to send activities)'
            cand --tenant-token-file 'Read the tenant token from a file'
            cand --subdomain 'Main API host label: https://<SUBDOMAIN>.planhat.com (api-eu, api-us2, ... for other clusters)'
            cand --api-url 'Base URL of the main API, replacing the one built from --subdomain'
            cand --analytics-url 'Base URL of the analytics API [default: https://analytics.planhat.com]'
            cand --api-token 'Planhat API access token; with it, identify and group also update end-user and company profiles'
            cand --api-token-file 'Read the API access token from a file'
            cand --source-label 'The `source` written on every item; an empty label omits it [default: the mapping file''s source_label, else Segment]'
            cand --map 'A mapping file (TOML): event actions, weights and drops, trait → field mappings, and metrics from events ("The mapping file" in the documentation shows one)'
            cand --shard 'Keep only shard K of N (K from 0), split by a stable hash of each user''s identity (a group call''s by its groupId), to run N processes side by side. Every shard learns every user''s company and link'
            cand --dedupe-window 'Skip a message whose messageId is among the last N distinct ones; 0 turns deduplication off'
            cand --types 'Keep only these message types (comma-separated)'
            cand --since 'Keep only events at or after this time (RFC 3339 or a date, UTC when no zone is given)'
            cand --until 'Keep only events before this time'
            cand --max-line-bytes 'Longest line read, in bytes; a longer line is rejected line_too_long without being held in memory'
            cand --batch-size 'Items per activity or metric request, at most; the default leaves it to --max-body-bytes. Upsert requests hold at most 5000'
            cand --max-body-bytes 'Bytes per request body, at most (Planhat''s hard limit is 32 MB, about 150,000 events): activity and metric requests are filled to it'
            cand --flush-interval 'Send a batch once its oldest event has waited this long (e.g. 2s, 500ms)'
            cand --failed 'Append rejected and failed messages to this file (created only when needed)'
            cand --checkpoint 'Record progress here after each delivered request, and what the run learned beside it (PATH.memory) when it ends, so that a rerun over the same, grown export reads only what is new: sources it covers in full are not read, a file that only grew is read from where it ended, the same stdin stream resumes. One run at a time holds it; the --failed file is cut back to the length it records. A rerun with other --map, --stitch, --types, --since, --until, --ignore-integrations, --dedupe-window, --receiver, --shard or API token is refused (--restart starts over)'
            cand --max-retries 'Retries of a request after a 408, 429, 500, 502, 503, 504 or transport error'
            cand --timeout 'Timeout of each request (e.g. 30s)'
            cand --api-rate 'Requests in any minute to the main API (/endusers, /companies, /dock/segment), and at most 50 in any second; Planhat''s soft quota is 200 a minute'
            cand --progress 'When to draw the progress bar on stderr'
            cand --summary-json 'Also write the final summary as JSON to this file'
            cand --receiver 'Hand each message to Planhat''s own Segment receiver (https://<SUBDOMAIN>.planhat.com/dock/segment) instead of translating it'
            cand --stitch 'Attribute anonymous messages (no userId or email, only an anonymousId) to the user a message with both ids, or an alias, links that anonymousId to. Input files are read twice, so a link found anywhere in them counts; standard input is read once, so there only links from earlier lines apply'
            cand --ignore-integrations 'Send messages even when their `integrations` object turns Planhat off'
            cand --dry-run 'Print the requests that would be sent, one JSON object per line, and send nothing. Needs no token'
            cand --pretty 'Indent --dry-run output'
            cand --restart 'With --checkpoint: start over, reading and sending everything, even though inputs or options changed since it was written, or an older version wrote it'
            cand -q 'Print only errors on stderr'
            cand --quiet 'Print only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'segment-planhat;validate'= {
            cand --api-token 'Planhat API access token; with it, identify and group also update end-user and company profiles'
            cand --api-token-file 'Read the API access token from a file'
            cand --source-label 'The `source` written on every item; an empty label omits it [default: the mapping file''s source_label, else Segment]'
            cand --map 'A mapping file (TOML): event actions, weights and drops, trait → field mappings, and metrics from events ("The mapping file" in the documentation shows one)'
            cand --shard 'Keep only shard K of N (K from 0), split by a stable hash of each user''s identity (a group call''s by its groupId), to run N processes side by side. Every shard learns every user''s company and link'
            cand --dedupe-window 'Skip a message whose messageId is among the last N distinct ones; 0 turns deduplication off'
            cand --types 'Keep only these message types (comma-separated)'
            cand --since 'Keep only events at or after this time (RFC 3339 or a date, UTC when no zone is given)'
            cand --until 'Keep only events before this time'
            cand --max-line-bytes 'Longest line read, in bytes; a longer line is rejected line_too_long without being held in memory'
            cand --checkpoint 'Report what a rerun of send with this checkpoint would read and send: the sources new or grown since its last run, and the usual counts for their lines. Reads the checkpoint and its memory; writes nothing'
            cand --receiver 'Hand each message to Planhat''s own Segment receiver (https://<SUBDOMAIN>.planhat.com/dock/segment) instead of translating it'
            cand --stitch 'Attribute anonymous messages (no userId or email, only an anonymousId) to the user a message with both ids, or an alias, links that anonymousId to. Input files are read twice, so a link found anywhere in them counts; standard input is read once, so there only links from earlier lines apply'
            cand --ignore-integrations 'Send messages even when their `integrations` object turns Planhat off'
            cand --json 'Print the report as one JSON object'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'segment-planhat;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'segment-planhat;help'= {
            cand send 'Translate messages and send them to Planhat (or print them with --dry-run)'
            cand validate 'Read and map messages without sending; report what would happen'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'segment-planhat;help;send'= {
        }
        &'segment-planhat;help;validate'= {
        }
        &'segment-planhat;help;completions'= {
        }
        &'segment-planhat;help;help'= {
        }
    ]
    $completions[$command]
}
