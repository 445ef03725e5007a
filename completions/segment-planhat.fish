# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_segment_planhat_global_optspecs
    string join \n h/help V/version
end

function __fish_segment_planhat_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_segment_planhat_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_segment_planhat_using_subcommand
    set -l cmd (__fish_segment_planhat_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c segment-planhat -n "__fish_segment_planhat_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c segment-planhat -n "__fish_segment_planhat_needs_command" -s V -l version -d 'Print version'
complete -c segment-planhat -n "__fish_segment_planhat_needs_command" -f -a "send" -d 'Translate messages and send them to Planhat (or print them with --dry-run)'
complete -c segment-planhat -n "__fish_segment_planhat_needs_command" -f -a "validate" -d 'Read and map messages without sending; report what would happen'
complete -c segment-planhat -n "__fish_segment_planhat_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c segment-planhat -n "__fish_segment_planhat_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l tenant-token -d 'Planhat tenant token (needed to send activities)' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l tenant-token-file -d 'Read the tenant token from a file' -r -F
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l subdomain -d 'Main API host label: https://<SUBDOMAIN>.planhat.com (api-eu, api-us2, ... for other clusters)' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l api-url -d 'Base URL of the main API, replacing the one built from --subdomain' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l analytics-url -d 'Base URL of the analytics API [default: https://analytics.planhat.com]' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l api-token -d 'Planhat API access token; with it, identify and group also update end-user and company profiles' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l api-token-file -d 'Read the API access token from a file' -r -F
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l source-label -d 'The `source` written on every item; an empty label omits it [default: the mapping file\'s source_label, else Segment]' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l map -d 'A mapping file (TOML): event actions, weights and drops, trait → field mappings, and metrics from events ("The mapping file" in the documentation shows one)' -r -F
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l shard -d 'Keep only shard K of N (K from 0), split by a stable hash of each user\'s identity (a group call\'s by its groupId), to run N processes side by side. Every shard learns every user\'s company and link' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l dedupe-window -d 'Skip a message whose messageId is among the last N distinct ones; 0 turns deduplication off' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l types -d 'Keep only these message types (comma-separated)' -r -f -a "identify\t''
track\t''
page\t''
screen\t''
group\t''
alias\t''
delete\t''"
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l since -d 'Keep only events at or after this time (RFC 3339 or a date, UTC when no zone is given)' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l until -d 'Keep only events before this time' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l max-line-bytes -d 'Longest line read, in bytes; a longer line is rejected line_too_long without being held in memory' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l batch-size -d 'Items per activity or metric request, at most; the default leaves it to --max-body-bytes. Upsert requests hold at most 5000' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l max-body-bytes -d 'Bytes per request body, at most (Planhat\'s hard limit is 32 MB, about 150,000 events): activity and metric requests are filled to it' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l flush-interval -d 'Send a batch once its oldest event has waited this long (e.g. 2s, 500ms)' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l failed -d 'Append rejected and failed messages to this file (created only when needed)' -r -F
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l checkpoint -d 'Record progress here after each delivered request, and what the run learned beside it (PATH.memory) when it ends, so that a rerun over the same, grown export reads only what is new: sources it covers in full are not read, a file that only grew is read from where it ended, the same stdin stream resumes. One run at a time holds it; the --failed file is cut back to the length it records. A rerun with other --map, --stitch, --types, --since, --until, --ignore-integrations, --dedupe-window, --receiver, --shard or API token is refused (--restart starts over)' -r -F
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l max-retries -d 'Retries of a request after a 408, 429, 500, 502, 503, 504 or transport error' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l timeout -d 'Timeout of each request (e.g. 30s)' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l api-rate -d 'Requests in any minute to the main API (/endusers, /companies, /dock/segment), and at most 50 in any second; Planhat\'s soft quota is 200 a minute' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l progress -d 'When to draw the progress bar on stderr' -r -f -a "auto\t'When stderr is a terminal'
always\t''
never\t''"
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l summary-json -d 'Also write the final summary as JSON to this file' -r -F
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l receiver -d 'Hand each message to Planhat\'s own Segment receiver (https://<SUBDOMAIN>.planhat.com/dock/segment) instead of translating it'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l stitch -d 'Attribute anonymous messages (no userId or email, only an anonymousId) to the user a message with both ids, or an alias, links that anonymousId to. Input files are read twice, so a link found anywhere in them counts; standard input is read once, so there only links from earlier lines apply'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l ignore-integrations -d 'Send messages even when their `integrations` object turns Planhat off'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l dry-run -d 'Print the requests that would be sent, one JSON object per line, and send nothing. Needs no token'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l pretty -d 'Indent --dry-run output'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -l restart -d 'With --checkpoint: start over, reading and sending everything, even though inputs or options changed since it was written, or an older version wrote it'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -s q -l quiet -d 'Print only errors on stderr'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l api-token -d 'Planhat API access token; with it, identify and group also update end-user and company profiles' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l api-token-file -d 'Read the API access token from a file' -r -F
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l source-label -d 'The `source` written on every item; an empty label omits it [default: the mapping file\'s source_label, else Segment]' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l map -d 'A mapping file (TOML): event actions, weights and drops, trait → field mappings, and metrics from events ("The mapping file" in the documentation shows one)' -r -F
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l shard -d 'Keep only shard K of N (K from 0), split by a stable hash of each user\'s identity (a group call\'s by its groupId), to run N processes side by side. Every shard learns every user\'s company and link' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l dedupe-window -d 'Skip a message whose messageId is among the last N distinct ones; 0 turns deduplication off' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l types -d 'Keep only these message types (comma-separated)' -r -f -a "identify\t''
track\t''
page\t''
screen\t''
group\t''
alias\t''
delete\t''"
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l since -d 'Keep only events at or after this time (RFC 3339 or a date, UTC when no zone is given)' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l until -d 'Keep only events before this time' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l max-line-bytes -d 'Longest line read, in bytes; a longer line is rejected line_too_long without being held in memory' -r
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l checkpoint -d 'Report what a rerun of send with this checkpoint would read and send: the sources new or grown since its last run, and the usual counts for their lines. Reads the checkpoint and its memory; writes nothing' -r -F
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l receiver -d 'Hand each message to Planhat\'s own Segment receiver (https://<SUBDOMAIN>.planhat.com/dock/segment) instead of translating it'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l stitch -d 'Attribute anonymous messages (no userId or email, only an anonymousId) to the user a message with both ids, or an alias, links that anonymousId to. Input files are read twice, so a link found anywhere in them counts; standard input is read once, so there only links from earlier lines apply'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l ignore-integrations -d 'Send messages even when their `integrations` object turns Planhat off'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -l json -d 'Print the report as one JSON object'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand validate" -s h -l help -d 'Print help'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand completions" -s h -l help -d 'Print help'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand help; and not __fish_seen_subcommand_from send validate completions help" -f -a "send" -d 'Translate messages and send them to Planhat (or print them with --dry-run)'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand help; and not __fish_seen_subcommand_from send validate completions help" -f -a "validate" -d 'Read and map messages without sending; report what would happen'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand help; and not __fish_seen_subcommand_from send validate completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand help; and not __fish_seen_subcommand_from send validate completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c segment-planhat -n "__fish_segment_planhat_using_subcommand completions; and not __fish_seen_subcommand_from bash elvish fish powershell zsh" -f -a "bash elvish fish powershell zsh"
