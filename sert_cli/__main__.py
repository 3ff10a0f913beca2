from sert_cli.cli import main

main()
