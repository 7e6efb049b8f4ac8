package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// bashCompletion asks tracectl itself for the words that may follow: the
// commands and, after a dash, the options of the command being typed.
const bashCompletion = `# bash completion for tracectl
_tracectl_complete() {
	local word="${COMP_WORDS[COMP_CWORD]}"
	local -a typed=("${COMP_WORDS[@]:0:COMP_CWORD}")
	local words
	if [[ "$word" == -* ]]; then
		words=$("${typed[@]}" "$word" --generate-bash-completion 2>/dev/null)
	else
		words=$("${typed[@]}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$words" -- "$word"))
}
complete -o bashdefault -o default -F _tracectl_complete tracectl
`

// zshCompletion reuses the bash function through zsh's bashcompinit.
const zshCompletion = `#compdef tracectl
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

func completionCmd() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `Load it in the running shell, or install it for every session:

   source <(tracectl completion bash)
   tracectl completion bash > /etc/bash_completion.d/tracectl
   tracectl completion zsh > "${fpath[1]}/_tracectl"
   tracectl completion fish > ~/.config/fish/completions/tracectl.fish

The Debian package installs the bash script.`,
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				_, err := fmt.Fprint(c.App.Writer, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(c.App.Writer, zshCompletion)
				return err
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("fish completion: %w", err)
				}
				_, err = fmt.Fprint(c.App.Writer, s)
				return err
			}
			return fmt.Errorf("completion needs a shell: bash, zsh or fish")
		},
	}
}
