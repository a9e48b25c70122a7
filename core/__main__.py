from parawire.cli import main

main()
