from sert_cli.cli.app import main

main()
